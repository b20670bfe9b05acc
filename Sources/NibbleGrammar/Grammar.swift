/// A compiled grammar over bytes, ready for `GrammarMatcher`. Immutable and shareable across sequences.
///
/// Rules are flattened into one array of elements (byte sets, rule references, and an end marker closing each
/// alternative); a matcher position is an index into it. For each position the "closure" — every byte-set
/// position reachable by entering rules without consuming a byte, with the return positions pushed on the way —
/// is precomputed, so advancing a parse stack by a byte is a table walk.
public struct Grammar: Sendable {
    enum Kind: UInt8 { case bytes, ref, end }

    /// Per element: kind and argument (byte-set index, rule id, or unused).
    let kinds: [Kind]
    let args: [Int32]
    let sets: [ByteSet]
    /// Per rule: the element index where each alternative starts.
    let alternatives: [[Int32]]
    let root: Int32

    /// Closure of each position: leaves `closureLeaves[closureStart[q]..<closureStart[q+1]]`, each leaf a byte-set
    /// position with the return positions to push under it (`chainData[chainStart[l]..<chainStart[l+1]]`,
    /// bottom first); `closureReachesEnd[q]` when the rest of the alternative can match nothing.
    let closureStart: [Int32]
    let closureLeaves: [Int32]
    let leafChainStart: [Int32]
    let chainData: [Int32]
    let closureReachesEnd: [Bool]

    /// Limits keeping hostile grammars bounded in memory and build time.
    static let maxElements = 400_000
    static let maxClosureLeaves = 2_000_000

    /// Parses and compiles GBNF text.
    public init(gbnf source: String) throws {
        let syntax = try GBNFParser.parse(source)
        var builder = GrammarBuilder()
        try builder.lower(syntax)
        self = try builder.compile()
    }

    init(kinds: [Kind], args: [Int32], sets: [ByteSet], alternatives: [[Int32]], root: Int32) throws {
        self.kinds = kinds
        self.args = args
        self.sets = sets
        self.alternatives = alternatives
        self.root = root
        var closures = ClosureTable(kinds: kinds, args: args, alternatives: alternatives)
        for q in 0..<kinds.count { try closures.compute(Int32(q), depth: 0) }
        var start: [Int32] = [0], leaves: [Int32] = [], chainStart: [Int32] = [0], chain: [Int32] = []
        var reaches: [Bool] = []
        for q in 0..<kinds.count {
            let c = closures.memo[q]!
            for leaf in c.leaves {
                leaves.append(leaf.position)
                chain += leaf.chain
                chainStart.append(Int32(chain.count))
            }
            start.append(Int32(leaves.count))
            reaches.append(c.reachesEnd)
        }
        closureStart = start
        closureLeaves = leaves
        leafChainStart = chainStart
        chainData = chain
        closureReachesEnd = reaches
    }
}

/// Computes closures with memoization; the grammar has no left recursion, so the recursion terminates.
private struct ClosureTable {
    struct Leaf: Hashable { var position: Int32; var chain: [Int32] }
    struct Closure { var leaves: [Leaf]; var reachesEnd: Bool }

    let kinds: [Grammar.Kind]
    let args: [Int32]
    let alternatives: [[Int32]]
    var memo: [Closure?]
    var total = 0

    init(kinds: [Grammar.Kind], args: [Int32], alternatives: [[Int32]]) {
        self.kinds = kinds
        self.args = args
        self.alternatives = alternatives
        memo = Array(repeating: nil, count: kinds.count)
    }

    @discardableResult
    mutating func compute(_ q: Int32, depth: Int) throws -> Closure {
        if let c = memo[Int(q)] { return c }
        guard depth < 2000 else { throw GrammarError.tooLarge("rules nest more than 2000 deep without matching a byte") }
        var result: Closure
        switch kinds[Int(q)] {
        case .end:
            result = Closure(leaves: [], reachesEnd: true)
        case .bytes:
            result = Closure(leaves: [Leaf(position: q, chain: [])], reachesEnd: false)
        case .ref:
            let cont = q + 1
            let pushCont = kinds[Int(cont)] != .end
            var leaves: [Leaf] = []
            var seen: Set<Leaf> = []
            var reach = false
            for s in alternatives[Int(args[Int(q)])] {
                let c = try compute(s, depth: depth + 1)
                for leaf in c.leaves {
                    let l = Leaf(position: leaf.position, chain: pushCont ? [cont] + leaf.chain : leaf.chain)
                    if seen.insert(l).inserted { leaves.append(l) }
                }
                reach = reach || c.reachesEnd
            }
            var reachesEnd = false
            if reach {
                let c = try compute(cont, depth: depth + 1)
                for leaf in c.leaves where seen.insert(leaf).inserted { leaves.append(leaf) }
                reachesEnd = c.reachesEnd
            }
            result = Closure(leaves: leaves, reachesEnd: reachesEnd)
        }
        total += result.leaves.count
        guard total <= Grammar.maxClosureLeaves else {
            throw GrammarError.tooLarge("more than \(Grammar.maxClosureLeaves) parse positions (too ambiguous)")
        }
        memo[Int(q)] = result
        return result
    }
}
