import NibbleGrammar

/// Structured output for one sequence: a grammar's matcher over the model's shared vocabulary trie.
///
/// Each step `restrict` masks the processed logits to the tokens the grammar allows (the sequence's stop tokens
/// only where the text so far is complete), the sampler picks among them, and `accept` advances the matcher.
/// Generation ends once `isComplete`: nothing but the end can follow.
///
/// A lazy constraint (tool calls the model may or may not make) samples freely until its trigger text appears
/// in the output; the grammar then matches from the trigger's first byte on and constrains every later token.
/// A trigger followed, within the same token, by text the grammar rejects leaves the output unconstrained.
public struct OutputConstraint {
    private let constraint: GrammarConstraint
    /// Stop tokens of the sequence (EOS ids and request stop ids): allowed exactly when the grammar can end.
    private var stopTokenIds: Set<Int> = []
    private let lazy: LazyStart?

    /// Where a lazy constraint is: waiting for its trigger, matching, or off for good.
    final class LazyStart {
        enum Phase { case waiting, active, off }
        let trigger: [UInt8]
        /// The text of a token, special tokens included (their markers are often the trigger).
        let tokenText: (Int) -> [UInt8]
        var phase = Phase.waiting
        /// The output's last bytes: a trigger may span tokens.
        var recent: [UInt8] = []

        init(trigger: [UInt8], tokenText: @escaping (Int) -> [UInt8]) {
            self.trigger = trigger
            self.tokenText = tokenText
        }
    }

    /// - Parameters:
    ///   - grammar: the compiled grammar (shared, immutable).
    ///   - vocabulary: the model's vocabulary trie, built once per model.
    public init(grammar: Grammar, vocabulary: TokenVocabulary) {
        constraint = GrammarConstraint(grammar: grammar, vocabulary: vocabulary)
        lazy = nil
    }

    /// A lazy constraint: `grammar` applies from the first occurrence of `trigger` in the output on.
    /// - tokenText: each token's text, special tokens included.
    public init(grammar: Grammar, vocabulary: TokenVocabulary, trigger: String, tokenText: @escaping (Int) -> [UInt8]) {
        constraint = GrammarConstraint(grammar: grammar, vocabulary: vocabulary)
        lazy = trigger.isEmpty ? nil : LazyStart(trigger: Array(trigger.utf8), tokenText: tokenText)
    }

    mutating func bind(stopTokenIds: Set<Int>) {
        self.stopTokenIds = stopTokenIds
    }

    /// Whether the grammar applies to the next token (always, unless lazy and not yet triggered).
    var isActive: Bool { lazy.map { $0.phase == .active } ?? true }

    /// Whether only the end can follow.
    public var isComplete: Bool { isActive && constraint.isComplete }

    /// An unconstrained pick of a lazy constraint: looks for the trigger in the output and, once it is there,
    /// feeds the grammar everything from the trigger on.
    private func watch(_ token: Int, _ lazy: LazyStart) {
        guard lazy.phase == .waiting, !stopTokenIds.contains(token) else { return }
        lazy.recent += lazy.tokenText(token)
        let trigger = lazy.trigger
        if lazy.recent.count >= trigger.count,
           let start = (0...(lazy.recent.count - trigger.count)).first(where: { lazy.recent[$0..<($0 + trigger.count)].elementsEqual(trigger) }) {
            lazy.phase = constraint.accept(bytes: Array(lazy.recent[start...])) ? .active : .off
            lazy.recent = []
        } else if lazy.recent.count >= trigger.count {
            lazy.recent.removeFirst(lazy.recent.count - trigger.count + 1)
        }
    }

    /// Picks the next token from penalized logits and advances the matcher with it; `warp` applies the
    /// sampler's temperature and truncations.
    ///
    /// As llama.cpp does, the sampler's unconstrained pick stands when the grammar allows it; only otherwise is
    /// the full mask computed and the pick redrawn from the masked logits, warped afresh, so that top-k, top-p
    /// and min-p choose among the tokens the grammar allows (truncating first could leave none). For greedy
    /// decoding that is exactly the masked arg-max; for plain sampling exactly the masked distribution (a
    /// rejected draw is redrawn from the renormalized rest); and most steps cost a check of one token's bytes
    /// instead of a vocabulary walk.
    /// - Parameter truncates: whether `warp` drops tokens by looking at the others. Without truncation the
    ///   warped logits can be masked as they are, without keeping an unwarped copy.
    func pick(_ logits: inout [Float], truncates: Bool, using sampler: inout Sampler,
              warp: (inout [Float]) -> Void) throws(GenerationError) -> Int? {
        if let lazy, lazy.phase != .active {
            warp(&logits)
            let token = sampler.sample(logits)
            if let token { watch(token, lazy) }
            return token
        }
        var unwarped: [Float] = []
        if truncates { unwarped = logits }
        warp(&logits)
        if let first = sampler.sample(logits) {
            if stopTokenIds.contains(first) {
                if constraint.canEnd { return first }
            } else if try tryAccept(first) {
                return first
            }
        }
        if truncates {
            logits = unwarped
            try restrict(&logits)
            warp(&logits)
        } else {
            try restrict(&logits)
        }
        guard let token = sampler.sample(logits) else { return nil }
        try accept(token)
        return token
    }

    /// Advances with `token` when the grammar allows it; false (state unchanged) when it does not.
    private func tryAccept(_ token: Int) throws(GenerationError) -> Bool {
        do {
            try constraint.accept(token)
            return true
        } catch GrammarError.tokenRejected {
            return false
        } catch {
            throw .invalidParameter(InvalidParameter(name: "grammar", reason: "\(error)"))
        }
    }

    /// Sets every token the grammar does not allow next to -infinity.
    func restrict(_ logits: inout [Float]) throws(GenerationError) {
        let canEnd = constraint.canEnd
        // Stop ids the vocabulary does not know as end tokens keep their logit only when the grammar can end.
        let stops = stopTokenIds.filter { $0 >= 0 && $0 < logits.count }
        let kept = canEnd ? stops.map { ($0, logits[$0]) } : []
        do {
            try logits.withUnsafeMutableBufferPointer { try constraint.apply(to: $0) }
        } catch {
            throw .invalidParameter(InvalidParameter(name: "grammar", reason: "\(error)"))
        }
        for id in stops { logits[id] = -.infinity }
        for (id, value) in kept { logits[id] = value }
    }

    /// Advances with the sampled token; stop tokens end the text and are not fed to the matcher.
    func accept(_ token: Int) throws(GenerationError) {
        guard !stopTokenIds.contains(token) else { return }
        do { try constraint.accept(token) } catch {
            throw .invalidParameter(InvalidParameter(name: "grammar", reason: "\(error)"))
        }
    }
}
