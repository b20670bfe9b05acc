/// The per-sequence structured-output state the engine drives, one call per step:
///
/// 1. `apply(to:)` (or `allowedTokens()`) before sampling: disallowed logits become -infinity; end tokens stay
///    allowed only when `canEnd`.
/// 2. `accept(_:)` with the sampled token.
/// 3. Stop when `isComplete` (nothing but the end can follow); an end token is valid whenever `canEnd`.
///
/// Masks are cached by matcher state: JSON spends most tokens in a few states (inside a string, inside a number),
/// so after the first visit a step costs a dictionary lookup and a copy. A miss walks the vocabulary trie once.
public final class GrammarConstraint {
    public let vocabulary: TokenVocabulary
    public private(set) var matcher: GrammarMatcher
    private var cache: [CacheKey: TokenMask] = [:]
    private static let cacheLimit = 512
    /// Trie walk scratch: the stacks after each prefix depth, laid end to end.
    private var levelBuffer: [Int32] = []
    private var levelStart: [Int] = []
    private var levelCount: [Int] = []

    private struct CacheKey: Hashable {
        var tops: [Int32]
        var accepting: Bool
    }

    public init(grammar: Grammar, vocabulary: TokenVocabulary) {
        self.vocabulary = vocabulary
        matcher = GrammarMatcher(grammar: grammar)
        levelStart = Array(repeating: 0, count: vocabulary.maxLength + 2)
        levelCount = Array(repeating: 0, count: vocabulary.maxLength + 2)
    }

    /// Whether the text so far is a complete match, so an end token may be sampled.
    public var canEnd: Bool { matcher.canEnd }
    /// Whether only the end can follow.
    public var isComplete: Bool { matcher.isComplete }

    /// Masks one logits row (length ≥ vocabulary size; extra padded entries are masked too).
    public func apply(to logits: UnsafeMutableBufferPointer<Float>) throws {
        try allowedTokens().apply(to: logits)
    }

    /// The tokens allowed next.
    public func allowedTokens() throws -> TokenMask {
        if let failure = matcher.failure { throw failure }
        let key = CacheKey(tops: matcher.tops, accepting: matcher.accepting)
        if let hit = cache[key] { return hit }
        var mask = walkTrie()
        if let failure = matcher.failure { throw failure }
        if matcher.accepting { for id in vocabulary.endTokenIds { mask.insert(id) } }
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = mask
        return mask
    }

    /// Advances with the sampled token. An end token is accepted when `canEnd`; a disallowed token throws and
    /// leaves the state unchanged.
    public func accept(_ token: Int) throws {
        if vocabulary.endTokenIds.contains(token) {
            guard matcher.canEnd else { throw GrammarError.tokenRejected(token) }
            matcher.tops = []
            return
        }
        guard token >= 0, token < vocabulary.size, let bytes = vocabulary.tokenBytes[token], !bytes.isEmpty,
              matcher.accept(bytes: bytes) else { throw GrammarError.tokenRejected(token) }
        if let failure = matcher.failure { throw failure }
        if matcher.compactIfNeeded() { cache.removeAll() }
    }

    /// Advances with raw text (a lazy grammar's start, whose tokens were sampled freely); false, with the
    /// state unchanged, when the grammar rejects it.
    public func accept(bytes: [UInt8]) -> Bool {
        var copy = matcher
        guard copy.accept(bytes: bytes), copy.failure == nil else { return false }
        matcher = copy
        if matcher.compactIfNeeded() { cache.removeAll() }
        return true
    }

    /// Whether `token` is allowed, checked directly on its bytes (the reference the trie walk must agree with).
    public func allowsDirectly(_ token: Int) -> Bool {
        if vocabulary.endTokenIds.contains(token) { return matcher.canEnd }
        guard token >= 0, token < vocabulary.size, let bytes = vocabulary.tokenBytes[token], !bytes.isEmpty
        else { return false }
        var copy = matcher
        return copy.accept(bytes: bytes)
    }

    /// One preorder pass over the trie; the stacks after each prefix live in `levelBuffer` by depth.
    private func walkTrie() -> TokenMask {
        let v = vocabulary
        var mask = TokenMask(size: v.size)
        let needed = (v.maxLength + 1) * GrammarMatcher.maxStacks
        if levelBuffer.count < min(needed, 1 << 22) { levelBuffer = Array(repeating: 0, count: min(needed, 1 << 22)) }
        // Level 0 is the current state.
        var level0 = matcher.tops
        levelStart[0] = 0
        levelCount[0] = level0.count
        var buffer = levelBuffer
        levelBuffer = []  // exclusive access while walking
        if buffer.count < level0.count { buffer += Array(repeating: 0, count: level0.count) }
        for (i, t) in level0.enumerated() { buffer[i] = t }
        level0 = []
        var out: [Int32] = []
        out.reserveCapacity(64)
        var node = 0
        let count = v.nodeCount
        while node < count {
            let d = Int(v.nodeDepth[node])
            let byte = v.nodeByte[node]
            out.removeAll(keepingCapacity: true)
            var accepting = false
            let ps = levelStart[d - 1], pc = levelCount[d - 1]
            for k in ps..<(ps + pc) { matcher.advance(buffer[k], byte, into: &out, accepting: &accepting) }
            if out.isEmpty && !accepting {
                node = Int(v.subtreeEnd[node])
                continue
            }
            for t in Int(v.tokenStart[node])..<Int(v.tokenStart[node + 1]) { mask.insert(Int(v.nodeTokens[t])) }
            if out.isEmpty {
                node = Int(v.subtreeEnd[node])
                continue
            }
            let start = ps + pc
            if start + out.count > buffer.count { buffer += Array(repeating: 0, count: start + out.count) }
            for (i, t) in out.enumerated() { buffer[start + i] = t }
            levelStart[d] = start
            levelCount[d] = out.count
            node += 1
        }
        levelBuffer = buffer
        return mask
    }
}
