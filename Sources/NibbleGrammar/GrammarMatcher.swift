/// Matches bytes against a `Grammar` with a set of parse stacks (several while the input is ambiguous).
///
/// Memory is bounded: at most `maxStacks` stacks at once (beyond that `failure` is set and the step rejects) and
/// stacks at most `maxDepth` deep (deeper nesting is rejected, like a parser's recursion limit).
public struct GrammarMatcher {
    public let grammar: Grammar
    var arena = StackArena()
    /// Top node of every live stack, sorted and unique.
    public internal(set) var tops: [Int32] = []
    /// Whether some stack has emptied: the input so far is a complete match.
    public internal(set) var accepting = false
    /// Set when a limit was hit; the state is then unreliable and callers should fail the request.
    public internal(set) var failure: GrammarError?

    public static let maxStacks = 1024
    public static let maxDepth = 1000

    public init(grammar: Grammar) {
        self.grammar = grammar
        var out: [Int32] = []
        var acc = false
        for start in grammar.alternatives[Int(grammar.root)] { apply(start, below: -1, into: &out, accepting: &acc) }
        out.sort()
        tops = dedupSorted(out)
        accepting = acc
    }

    /// Whether the input so far is complete (end of generation allowed).
    public var canEnd: Bool { accepting }
    /// Whether nothing more can follow: the only way on is to end.
    public var isComplete: Bool { tops.isEmpty }

    /// Pushes the closure of position `q` onto `below`, popping through finished rules.
    @inline(__always)
    mutating func apply(_ q: Int32, below: Int32, into out: inout [Int32], accepting: inout Bool) {
        var q = q, below = below
        while true {
            let qi = Int(q)
            for l in Int(grammar.closureStart[qi])..<Int(grammar.closureStart[qi + 1]) {
                var node = below
                for c in Int(grammar.leafChainStart[l])..<Int(grammar.leafChainStart[l + 1]) {
                    node = arena.intern(grammar.chainData[c], node)
                }
                node = arena.intern(grammar.closureLeaves[l], node)
                if arena.depth[Int(node)] > Self.maxDepth { continue }
                if !out.contains(node) {
                    if out.count >= Self.maxStacks {
                        failure = .matcherLimit("more than \(Self.maxStacks) simultaneous parses")
                        return
                    }
                    out.append(node)
                }
            }
            guard grammar.closureReachesEnd[qi] else { return }
            if below < 0 {
                accepting = true
                return
            }
            q = arena.position[Int(below)]
            below = arena.parent[Int(below)]
        }
    }

    /// Advances one stack by `byte`, appending the resulting stacks.
    @inline(__always)
    mutating func advance(_ top: Int32, _ byte: UInt8, into out: inout [Int32], accepting: inout Bool) {
        let p = arena.position[Int(top)]
        guard grammar.sets[Int(grammar.args[Int(p)])].contains(byte) else { return }
        apply(p + 1, below: arena.parent[Int(top)], into: &out, accepting: &accepting)
    }

    /// Feeds one byte; returns false (state unchanged) when the grammar rejects it.
    @discardableResult
    public mutating func accept(_ byte: UInt8) -> Bool {
        var out: [Int32] = []
        var acc = false
        for top in tops { advance(top, byte, into: &out, accepting: &acc) }
        guard !out.isEmpty || acc else { return false }
        out.sort()
        tops = out
        accepting = acc
        return true
    }

    /// Feeds bytes; returns false (state unchanged) if any is rejected.
    @discardableResult
    public mutating func accept<S: Sequence>(bytes: S) -> Bool where S.Element == UInt8 {
        let saved = (tops, accepting)
        for b in bytes where !accept(b) {
            (tops, accepting) = saved
            return false
        }
        return true
    }

    /// Whether `byte` could come next.
    public mutating func allows(_ byte: UInt8) -> Bool {
        var out: [Int32] = []
        var acc = false
        for top in tops { advance(top, byte, into: &out, accepting: &acc) }
        return !out.isEmpty || acc
    }

    /// Depth of the deepest live stack (a rough distance from completion, for tests and diagnostics).
    public var maxStackDepth: Int { tops.map { Int(arena.depth[Int($0)]) }.max() ?? 0 }

    /// Drops stack nodes nothing refers to any more, when the arena has grown large.
    mutating func compactIfNeeded(limit: Int = 1 << 20) -> Bool {
        guard arena.count > limit else { return false }
        let (fresh, remapped) = arena.compacted(keeping: tops)
        arena = fresh
        tops = remapped.sorted()
        return true
    }
}

func dedupSorted(_ a: [Int32]) -> [Int32] {
    var out: [Int32] = []
    out.reserveCapacity(a.count)
    for x in a where out.last != x { out.append(x) }
    return out
}
