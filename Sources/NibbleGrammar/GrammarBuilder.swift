/// Lowers GBNF syntax to byte-level rules: literals and classes become byte sets (multi-byte code points become
/// alternatives of byte sequences), groups and repetitions become generated rules.
struct GrammarBuilder {
    enum Symbol: Hashable { case set(ByteSet), rule(Int) }

    /// Per rule: alternatives of symbol sequences.
    private(set) var rules: [[[Symbol]]] = []
    /// Per rule: the user rule it belongs to and where (generated rules carry their parent's), for errors.
    private var origins: [(name: String, location: GBNFSyntax.Location)] = []
    private var ids: [String: Int] = [:]
    private var classRules: [[ClosedRange<UInt32>]: Symbol] = [:]
    private var symbolCount = 0

    mutating func lower(_ syntax: GBNFSyntax) throws {
        for rule in syntax.rules {
            ids[rule.name] = rules.count
            rules.append([])
            origins.append((rule.name, rule.location))
        }
        for rule in syntax.rules {
            let id = ids[rule.name]!  // every name was registered above
            rules[id] = try lowerAlternatives(rule.body, origin: id)
        }
    }

    private mutating func newRule(origin: Int) -> Int {
        rules.append([])
        origins.append(origins[origin])
        return rules.count - 1
    }

    private mutating func count(_ n: Int) throws {
        symbolCount += n
        guard symbolCount <= Grammar.maxElements else {
            throw GrammarError.tooLarge("more than \(Grammar.maxElements) grammar elements after expanding repetitions")
        }
    }

    private mutating func lowerAlternatives(_ expr: GBNFSyntax.Expr, origin: Int) throws -> [[Symbol]] {
        if case .alternatives(let items) = expr {
            return try items.map { try lowerSequence($0, origin: origin) }
        }
        return [try lowerSequence(expr, origin: origin)]
    }

    private mutating func lowerSequence(_ expr: GBNFSyntax.Expr, origin: Int) throws -> [Symbol] {
        var out: [Symbol] = []
        try lower(expr, into: &out, origin: origin)
        try count(out.count + 1)
        return out
    }

    private mutating func lower(_ expr: GBNFSyntax.Expr, into out: inout [Symbol], origin: Int) throws {
        switch expr {
        case .literal(let scalars):
            for s in scalars {
                for b in UTF8Ranges.encode(s) { out.append(.set(ByteSet(range: b...b))) }
            }
        case .charClass(let ranges, let negated):
            out.append(try classSymbol(UTF8Ranges.normalize(ranges, negated: negated), origin: origin))
        case .anyChar:
            out.append(try classSymbol(UTF8Ranges.normalize([], negated: true), origin: origin))
        case .ruleRef(let name, let loc):
            guard let id = ids[name] else { throw GrammarError.undefinedRule(name, line: loc.line, column: loc.column) }
            out.append(.rule(id))
        case .sequence(let items):
            for item in items { try lower(item, into: &out, origin: origin) }
        case .alternatives:
            let id = newRule(origin: origin)
            rules[id] = try lowerAlternatives(expr, origin: origin)
            out.append(.rule(id))
        case .repetition(let item, let low, let high, _):
            var body: [Symbol] = []
            try lower(item, into: &body, origin: origin)
            let unit: Symbol
            if body.count == 1 {
                unit = body[0]
            } else {
                let id = newRule(origin: origin)
                rules[id] = [body]
                try count(body.count + 1)
                unit = .rule(id)
            }
            try count(low + (high.map { $0 - low } ?? 1) * 3)
            out += repeatElement(unit, count: low)
            if let high {
                // x{0,n} as nested optionals: o_k ::= x o_{k-1} | ε — linear size, and matching stays shallow
                // because each reference is in tail position.
                var previous: Symbol?
                for _ in 0..<(high - low) {
                    let id = newRule(origin: origin)
                    rules[id] = [previous.map { [unit, $0] } ?? [unit], []]
                    previous = .rule(id)
                }
                if let previous { out.append(previous) }
            } else {
                let id = newRule(origin: origin)
                rules[id] = [[unit, .rule(id)], []]
                out.append(.rule(id))
            }
        }
    }

    private mutating func classSymbol(_ ranges: [ClosedRange<UInt32>], origin: Int) throws -> Symbol {
        if let cached = classRules[ranges] { return cached }
        let sequences = UTF8Ranges.sequences(ranges)
        let symbol: Symbol
        if sequences.allSatisfy({ $0.count == 1 }) {
            var set = ByteSet()
            for s in sequences { for b in s[0] { set.insert(b) } }
            symbol = .set(set)
        } else {
            let id = newRule(origin: origin)
            rules[id] = sequences.map { $0.map { .set(ByteSet(range: $0)) } }
            try count(sequences.reduce(0) { $0 + $1.count + 1 })
            symbol = .rule(id)
        }
        classRules[ranges] = symbol
        return symbol
    }

    // MARK: - Checks and flattening

    /// Which rules can match the empty string.
    private func nullable() -> [Bool] {
        var result = Array(repeating: false, count: rules.count)
        var changed = true
        while changed {
            changed = false
            for (id, alternatives) in rules.enumerated() where !result[id] {
                let empty = alternatives.contains { seq in
                    seq.allSatisfy { if case .rule(let r) = $0 { return result[r] } else { return false } }
                }
                if empty { result[id] = true; changed = true }
            }
        }
        return result
    }

    /// Throws for the first rule that can reach itself through references preceded only by nullable symbols.
    private func checkLeftRecursion() throws {
        let empty = nullable()
        var edges = Array(repeating: [Int](), count: rules.count)
        for (id, alternatives) in rules.enumerated() {
            for seq in alternatives {
                for symbol in seq {
                    guard case .rule(let r) = symbol else { break }
                    edges[id].append(r)
                    if !empty[r] { break }
                }
            }
        }
        // Iterative three-colour DFS: a grey target is a cycle.
        var colour = Array(repeating: 0, count: rules.count)
        for start in 0..<rules.count where colour[start] == 0 {
            var stack: [(node: Int, next: Int)] = [(start, 0)]
            colour[start] = 1
            while let top = stack.last {
                if top.next < edges[top.node].count {
                    stack[stack.count - 1].next += 1
                    let target = edges[top.node][top.next]
                    if colour[target] == 1 {
                        let origin = origins[target]
                        throw GrammarError.leftRecursion(origin.name, line: origin.location.line,
                                                         column: origin.location.column)
                    }
                    if colour[target] == 0 {
                        colour[target] = 1
                        stack.append((target, 0))
                    }
                } else {
                    colour[top.node] = 2
                    stack.removeLast()
                }
            }
        }
    }

    func compile() throws -> Grammar {
        guard let root = ids["root"] else { throw GrammarError.missingRoot }
        try checkLeftRecursion()
        var kinds: [Grammar.Kind] = [], args: [Int32] = []
        var sets: [ByteSet] = [], setIndex: [ByteSet: Int32] = [:]
        var alternatives: [[Int32]] = []
        for rule in rules {
            var starts: [Int32] = []
            for seq in rule {
                starts.append(Int32(kinds.count))
                for symbol in seq {
                    switch symbol {
                    case .set(let set):
                        let index: Int32
                        if let existing = setIndex[set] {
                            index = existing
                        } else {
                            index = Int32(sets.count)
                            sets.append(set)
                            setIndex[set] = index
                        }
                        kinds.append(.bytes)
                        args.append(index)
                    case .rule(let r):
                        kinds.append(.ref)
                        args.append(Int32(r))
                    }
                }
                kinds.append(.end)
                args.append(-1)
            }
            alternatives.append(starts)
        }
        return try Grammar(kinds: kinds, args: args, sets: sets, alternatives: alternatives, root: Int32(root))
    }
}
