/// Recursive-descent parser from tokens to statements, following jinja2's grammar and operator precedence.
struct Parser {
    private let tokens: [(Token, Int)]
    private var p = 0
    private var depth = 0
    private let maxDepth: Int

    static let knownFilters: Set<String> = Filters.names
    static let knownTests: Set<String> = Tests.names

    static func parse(_ source: String, maxDepth: Int) throws -> [Node] {
        var parser = Parser(tokens: try Lexer.tokenize(source), maxDepth: maxDepth)
        let (body, end) = try parser.body(until: [])
        if let end { throw parser.error("unexpected '\(end)'") }
        return body
    }

    private init(tokens: [(Token, Int)], maxDepth: Int) {
        self.tokens = tokens
        self.maxDepth = maxDepth
    }

    // MARK: - Token helpers

    private var current: Token { p < tokens.count ? tokens[p].0 : .eof }
    private var line: Int { p < tokens.count ? tokens[p].1 : (tokens.last?.1 ?? 1) }
    private func error(_ m: String) -> TemplateError { .syntax(m, line: line) }
    private mutating func advance() { p += 1 }

    private func isOp(_ op: String) -> Bool { current == .op(op) }
    private func isName(_ n: String) -> Bool { current == .name(n) }

    private mutating func expectOp(_ op: String) throws {
        guard isOp(op) else { throw error("expected '\(op)', got \(describe(current))") }
        advance()
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = current else { throw error("expected a name, got \(describe(current))") }
        advance()
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard current == .blockEnd else { throw error("expected end of statement block, got \(describe(current))") }
        advance()
    }

    private func describe(_ t: Token) -> String {
        switch t {
        case .text: return "template data"
        case .name(let n): return "'\(n)'"
        case .op(let o): return "'\(o)'"
        case .string(let s): return "string '\(s)'"
        case .int(let i): return "\(i)"
        case .float(let d): return "\(d)"
        case .eof: return "end of template"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        }
    }

    private mutating func enter() throws {
        depth += 1
        if depth > maxDepth { throw TemplateError.limit("template nested more than \(maxDepth) levels deep") }
    }

    // MARK: - Statements

    /// Parses nodes until a block tag named in `until`; returns that name (consumed) or nil at the end of input.
    private mutating func body(until: Set<String>) throws -> ([Node], String?) {
        try enter()
        defer { depth -= 1 }
        var nodes: [Node] = []
        while true {
            switch current {
            case .eof:
                if !until.isEmpty { throw error("unexpected end of template, expected one of \(until.sorted())") }
                return (nodes, nil)
            case .text(let t):
                advance()
                nodes.append(.text(t))
            case .variableBegin:
                advance()
                let e = try tupleOrExpression()
                guard current == .variableEnd else { throw error("expected end of print statement, got \(describe(current))") }
                advance()
                nodes.append(.output(e))
            case .blockBegin:
                advance()
                guard case .name(let keyword) = current else { throw error("expected a statement name") }
                if until.contains(keyword) {
                    advance()
                    return (nodes, keyword)
                }
                nodes.append(try statement(keyword))
            default:
                throw error("unexpected \(describe(current))")
            }
        }
    }

    private mutating func statement(_ keyword: String) throws -> Node {
        advance()
        switch keyword {
        case "if": return try ifStatement()
        case "for": return try forStatement()
        case "set": return try setStatement()
        case "macro": return try macroStatement()
        case "call": return try callStatement()
        case "filter":
            let filters = try filterChain(first: true)
            try expectBlockEnd()
            let (nodes, _) = try body(until: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(filters, nodes)
        case "generation":
            try expectBlockEnd()
            let (nodes, _) = try body(until: ["endgeneration"])
            try expectBlockEnd()
            return .ifChain([(.literal(.bool(true)), nodes)], otherwise: [])
        case "break", "continue":
            try expectBlockEnd()
            return keyword == "break" ? .breakLoop : .continueLoop
        default:
            throw error("encountered unknown tag '\(keyword)'")
        }
    }

    private mutating func ifStatement() throws -> Node {
        var branches: [(Expr, [Node])] = []
        var condition = try tupleOrExpression()
        while true {
            try expectBlockEnd()
            let (nodes, end) = try body(until: ["elif", "else", "endif"])
            branches.append((condition, nodes))
            switch end {
            case "elif":
                condition = try tupleOrExpression()
            case "else":
                try expectBlockEnd()
                let (otherwise, _) = try body(until: ["endif"])
                try expectBlockEnd()
                return .ifChain(branches, otherwise: otherwise)
            default:
                try expectBlockEnd()
                return .ifChain(branches, otherwise: [])
            }
        }
    }

    private mutating func assignTarget(allowAttribute: Bool) throws -> Target {
        let first = try expectName()
        if allowAttribute && isOp(".") {
            advance()
            return .attribute(first, try expectName())
        }
        guard isOp(",") else { return .name(first) }
        var names = [first]
        while isOp(",") {
            advance()
            guard case .name = current else { break }
            names.append(try expectName())
        }
        return .tuple(names)
    }

    private mutating func forStatement() throws -> Node {
        let target = try assignTarget(allowAttribute: false)
        guard isName("in") else { throw error("expected 'in'") }
        advance()
        let iterable = try tupleOrExpression(allowConditional: false)
        var condition: Expr?
        if isName("if") {
            advance()
            condition = try expression()
        }
        if isName("recursive") { throw error("recursive loops are not supported") }
        try expectBlockEnd()
        let (nodes, end) = try body(until: ["else", "endfor"])
        var otherwise: [Node] = []
        if end == "else" {
            try expectBlockEnd()
            (otherwise, _) = try body(until: ["endfor"])
        }
        try expectBlockEnd()
        return .forLoop(target, iterable, condition: condition, body: nodes, otherwise: otherwise)
    }

    private mutating func setStatement() throws -> Node {
        let target = try assignTarget(allowAttribute: true)
        if isOp("=") {
            advance()
            let value = try tupleOrExpression()
            try expectBlockEnd()
            return .set(target, value)
        }
        let filters = isOp("|") ? try filterChain(first: false) : []
        try expectBlockEnd()
        let (nodes, _) = try body(until: ["endset"])
        try expectBlockEnd()
        return .setBlock(target, filters, nodes)
    }

    private mutating func parameters() throws -> [(String, Expr?)] {
        var params: [(String, Expr?)] = []
        try expectOp("(")
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectName()
            var defaultValue: Expr?
            if isOp("=") {
                advance()
                defaultValue = try expression()
            }
            params.append((name, defaultValue))
        }
        advance()
        return params
    }

    private mutating func macroStatement() throws -> Node {
        let name = try expectName()
        let params = try parameters()
        try expectBlockEnd()
        let (nodes, _) = try body(until: ["endmacro"])
        if case .name = current { advance() }  // `{% endmacro name %}`
        try expectBlockEnd()
        return .macro(name, params, nodes)
    }

    private mutating func callStatement() throws -> Node {
        let params = isOp("(") ? try parameters() : []
        let call = try expression()
        guard case .call = call else { throw error("expected a call after 'call'") }
        try expectBlockEnd()
        let (nodes, _) = try body(until: ["endcall"])
        try expectBlockEnd()
        return .callBlock(call, params, nodes)
    }

    /// `name(args) | name …` after `{% filter` (first: no leading pipe) or `{% set x` (leading pipe).
    private mutating func filterChain(first: Bool) throws -> [FilterCall] {
        var filters: [FilterCall] = []
        var needPipe = !first
        while true {
            if needPipe {
                guard isOp("|") else { break }
                advance()
            }
            needPipe = true
            let name = try filterName()
            guard Self.knownFilters.contains(name) else { throw error("No filter named '\(name)'.") }
            let args = isOp("(") ? try callArguments() : []
            filters.append(FilterCall(name: name, arguments: args))
        }
        return filters
    }

    private mutating func filterName() throws -> String {
        var name = try expectName()
        while isOp(".") {
            advance()
            name += "." + (try expectName())
        }
        return name
    }

    // MARK: - Expressions

    /// An expression, or a bare tuple `a, b`.
    private mutating func tupleOrExpression(allowConditional: Bool = true) throws -> Expr {
        let first = allowConditional ? try expression() : try orExpression()
        guard isOp(",") else { return first }
        var items = [first]
        while isOp(",") {
            advance()
            if current == .blockEnd || current == .variableEnd || isName("if") || isOp(")") { break }
            items.append(allowConditional ? try expression() : try orExpression())
        }
        return .tupleLiteral(items)
    }

    mutating func expression() throws -> Expr {
        try enter()
        defer { depth -= 1 }
        let value = try orExpression()
        guard isName("if") else { return value }
        advance()
        let condition = try orExpression()
        var otherwise: Expr?
        if isName("else") {
            advance()
            otherwise = try expression()
        }
        return .conditional(condition, then: value, otherwise: otherwise)
    }

    /// Runs a left-associative binary level; each link counts toward the nesting limit (evaluation recurses per link).
    private mutating func chain(_ operand: (inout Parser) throws -> Expr, _ combine: (inout Parser, Expr) throws -> Expr?) throws -> Expr {
        var left = try operand(&self)
        var links = 0
        defer { depth -= links }
        while let next = try combine(&self, left) {
            left = next
            links += 1
            try enter()
        }
        return left
    }

    private mutating func orExpression() throws -> Expr {
        try chain({ try $0.andExpression() }) { parser, left in
            guard parser.isName("or") else { return nil }
            parser.advance()
            return .or(left, try parser.andExpression())
        }
    }

    private mutating func andExpression() throws -> Expr {
        try chain({ try $0.notExpression() }) { parser, left in
            guard parser.isName("and") else { return nil }
            parser.advance()
            return .and(left, try parser.notExpression())
        }
    }

    private mutating func notExpression() throws -> Expr {
        if isName("not") {
            advance()
            try enter()
            defer { depth -= 1 }
            return .not(try notExpression())
        }
        return try comparison()
    }

    private mutating func comparison() throws -> Expr {
        let left = try math1()
        var ops: [(String, Expr)] = []
        while true {
            if case .op(let o) = current, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                advance()
                ops.append((o, try math1()))
            } else if isName("in") {
                advance()
                ops.append(("in", try math1()))
            } else if isName("not"), p + 1 < tokens.count, tokens[p + 1].0 == .name("in") {
                p += 2
                ops.append(("notin", try math1()))
            } else {
                break
            }
            try enter()
        }
        depth -= ops.count
        return ops.isEmpty ? left : .compare(left, ops)
    }

    private mutating func binaryLevel(_ ops: Set<String>, _ operand: (inout Parser) throws -> Expr) throws -> Expr {
        try chain(operand) { parser, left in
            guard case .op(let o) = parser.current, ops.contains(o) else { return nil }
            parser.advance()
            return .binary(o, left, try operand(&parser))
        }
    }

    private mutating func math1() throws -> Expr { try binaryLevel(["+", "-"]) { try $0.concat() } }
    private mutating func concat() throws -> Expr { try binaryLevel(["~"]) { try $0.math2() } }
    private mutating func math2() throws -> Expr { try binaryLevel(["*", "/", "//", "%"]) { try $0.power() } }
    private mutating func power() throws -> Expr { try binaryLevel(["**"]) { try $0.unary(withFilter: true) } }

    private mutating func unary(withFilter: Bool) throws -> Expr {
        try enter()
        defer { depth -= 1 }
        var node: Expr
        if isOp("-") {
            advance()
            node = .negate(try unary(withFilter: false))
        } else if isOp("+") {
            advance()
            node = .plus(try unary(withFilter: false))
        } else {
            node = try primary()
        }
        node = try postfix(node)
        if withFilter { node = try filterExpression(node) }
        return node
    }

    private mutating func primary() throws -> Expr {
        let token = current
        switch token {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var s):
            advance()
            while case .string(let more) = current { s += more; advance() }
            return .literal(.string(s))
        case .int(let i):
            advance()
            return .literal(.int(i))
        case .float(let d):
            advance()
            return .literal(.double(d))
        case .op("("):
            advance()
            if isOp(")") { advance(); return .tupleLiteral([]) }
            let e = try tupleOrExpression()
            try expectOp(")")
            return e
        case .op("["):
            advance()
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(","); if isOp("]") { break } }
                items.append(try expression())
            }
            advance()
            return .list(items)
        case .op("{"):
            advance()
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(","); if isOp("}") { break } }
                let key = try expression()
                try expectOp(":")
                pairs.append((key, try expression()))
            }
            advance()
            return .dict(pairs)
        default:
            throw error("unexpected \(describe(token))")
        }
    }

    private mutating func postfix(_ start: Expr) throws -> Expr {
        var node = start
        var links = 0
        defer { depth -= links }
        while true {
            if isOp(".") {
                advance()
                switch current {
                case .name(let n): advance(); node = .attribute(node, n)
                case .int(let i): advance(); node = .item(node, .literal(.int(i)))
                default: throw error("expected an attribute name")
                }
            } else if isOp("[") {
                advance()
                node = try subscriptTail(node)
            } else if isOp("(") {
                node = .call(node, try callArguments())
            } else {
                return node
            }
            links += 1
            try enter()
        }
    }

    private mutating func subscriptTail(_ target: Expr) throws -> Expr {
        var parts: [Expr?] = []
        var current: Expr? = nil
        var isSlice = false
        while !isOp("]") {
            if isOp(":") {
                advance()
                parts.append(current)
                current = nil
                isSlice = true
            } else {
                guard current == nil else { throw error("expected ']' or ':'") }
                current = try expression()
            }
        }
        advance()
        if !isSlice {
            guard let index = current else { throw error("expected a subscript") }
            return .item(target, index)
        }
        parts.append(current)
        guard parts.count <= 3 else { throw error("too many ':' in a slice") }
        while parts.count < 3 { parts.append(nil) }
        return .slice(target, parts[0], parts[1], parts[2])
    }

    private mutating func callArguments() throws -> [Argument] {
        try expectOp("(")
        var args: [Argument] = []
        while !isOp(")") {
            if !args.isEmpty { try expectOp(","); if isOp(")") { break } }
            if case .name(let n) = current, p + 1 < tokens.count, tokens[p + 1].0 == .op("=") {
                p += 2
                args.append(.keyword(n, try expression()))
            } else {
                args.append(.positional(try expression()))
            }
        }
        advance()
        return args
    }

    private mutating func filterExpression(_ start: Expr) throws -> Expr {
        var node = start
        var links = 0
        defer { depth -= links }
        while true {
            if isOp("|") {
                advance()
                let name = try filterName()
                guard Self.knownFilters.contains(name) else { throw error("No filter named '\(name)'.") }
                let args = isOp("(") ? try callArguments() : []
                node = .filter(node, name, args)
            } else if isName("is") {
                advance()
                var negated = false
                if isName("not") { advance(); negated = true }
                let name = try filterName()
                guard Self.knownTests.contains(name) else { throw error("No test named '\(name)'.") }
                var args: [Argument] = []
                if isOp("(") {
                    args = try callArguments()
                } else if startsPrimary && !isName("else") && !isName("or") && !isName("and") && !isName("is") {
                    args = [.positional(try postfix(try primary()))]
                }
                node = .test(node, name, args, negated: negated)
            } else if isOp("(") {
                node = .call(node, try callArguments())
            } else {
                return node
            }
            links += 1
            try enter()
        }
    }

    private var startsPrimary: Bool {
        switch current {
        case .name, .string, .int, .float: return true
        case .op(let o): return o == "[" || o == "{"
        default: return false
        }
    }
}
