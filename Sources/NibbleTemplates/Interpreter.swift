import Foundation

/// Variables visible at one point: a chain of frames (template, loop body, macro call).
final class Scope {
    var variables: [String: Value] = [:]
    let parent: Scope?
    init(parent: Scope?) { self.parent = parent }

    func lookup(_ name: String) -> Value? {
        var scope: Scope? = self
        while let s = scope {
            if let v = s.variables[name] { return v }
            scope = s.parent
        }
        return nil
    }
}

private enum Flow { case normal, breakLoop, continueLoop }

/// Renders parsed statements; one per render, counting work against the limits.
final class Interpreter {
    let limits: TemplateLimits
    let now: () -> Date
    let timeZone: TimeZone
    private var output = ""
    private var operations = 0
    private var depth = 0

    init(limits: TemplateLimits, now: @escaping () -> Date, timeZone: TimeZone) {
        self.limits = limits
        self.now = now
        self.timeZone = timeZone
    }

    func render(_ nodes: [Node], scope: Scope) throws -> String {
        _ = try run(nodes, scope)
        return output
    }

    // MARK: - Limits

    func tick() throws {
        operations += 1
        if operations > limits.maxOperations {
            throw TemplateError.limit("more than \(limits.maxOperations) loop iterations and calls")
        }
    }

    private func enter() throws {
        depth += 1
        if depth > limits.maxDepth { throw TemplateError.limit("evaluation nested more than \(limits.maxDepth) levels deep") }
    }

    /// Checks a string the template built (output, concatenations, repetitions) against the size limit.
    func checkSize(_ s: String) throws -> String {
        if s.utf8.count > limits.maxOutputBytes { throw TemplateError.limit("text longer than \(limits.maxOutputBytes) bytes") }
        return s
    }

    /// Throws when text of `bytes` bytes would pass the size limit; called before building large text.
    func checkSize(bytes: Int) throws {
        if bytes > limits.maxOutputBytes { throw TemplateError.limit("text longer than \(limits.maxOutputBytes) bytes") }
    }

    /// `str(value)`, refusing before it is built when a list or dict would print past the size limit (a list
    /// can repeat one large string many times without holding more memory).
    func text(_ value: Value) throws -> String {
        switch value {
        case .list, .tuple, .dict:
            var budget = limits.maxOutputBytes
            guard Self.fits(value, &budget, depth: 0) else { throw TemplateError.limit("text longer than \(limits.maxOutputBytes) bytes") }
            return value.pythonString
        default:
            return value.pythonString
        }
    }

    /// Whether `value` printed (as repr or JSON, within a small factor) fits in `budget` bytes; stops early.
    static func fits(_ value: Value, _ budget: inout Int, depth: Int) -> Bool {
        guard depth < 200 else { return false }
        switch value {
        case .string(let s): budget -= s.utf8.count * 2 + 2
        case .list(let items), .tuple(let items):
            budget -= 2
            for item in items {
                budget -= 2
                if budget < 0 || !fits(item, &budget, depth: depth + 1) { return false }
            }
        case .dict(let d):
            budget -= 2
            for (key, item) in d.pairs {
                budget -= key.utf8.count * 2 + 4
                if budget < 0 || !fits(item, &budget, depth: depth + 1) { return false }
            }
        default: budget -= 24
        }
        return budget >= 0
    }

    func checkCount(_ n: Int) throws {
        if n > limits.maxItems { throw TemplateError.limit("more than \(limits.maxItems) items in a list") }
    }

    private func write(_ s: String) throws {
        output += s
        if output.utf8.count > limits.maxOutputBytes { throw TemplateError.limit("output longer than \(limits.maxOutputBytes) bytes") }
    }

    /// Renders nodes into a separate buffer (block `set`, `filter`, macro bodies).
    func capture(_ nodes: [Node], _ scope: Scope) throws -> String {
        let saved = output
        output = ""
        defer { output = saved }
        _ = try run(nodes, scope)
        return output
    }

    // MARK: - Statements

    private func run(_ nodes: [Node], _ scope: Scope) throws -> Flow {
        try enter()
        defer { depth -= 1 }
        for node in nodes {
            let flow = try run(node, scope)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func run(_ node: Node, _ scope: Scope) throws -> Flow {
        switch node {
        case .text(let t):
            try write(t)
        case .output(let e):
            try write(try text(try eval(e, scope)))
        case .ifChain(let branches, let otherwise):
            for (condition, body) in branches where try eval(condition, scope).isTruthy {
                return try run(body, scope)
            }
            return try run(otherwise, scope)
        case .forLoop(let target, let iterable, let condition, let body, let otherwise):
            return try forLoop(target, iterable, condition, body, otherwise, scope)
        case .set(let target, let e):
            try assign(target, try eval(e, scope), scope)
        case .setBlock(let target, let filters, let body):
            var value = Value.string(try capture(body, scope))
            for f in filters { value = try applyFilter(f.name, value, try arguments(f.arguments, scope)) }
            try assign(target, value, scope)
        case .macro(let name, let params, let body):
            scope.variables[name] = .callable(makeMacro(name, params, body, scope))
        case .callBlock(let call, let params, let body):
            guard case .call(let callee, let args) = call else { return .normal }
            let caller = makeMacro("caller", params, body, scope)
            var a = try arguments(args, scope)
            a.keyword.append(("caller", .callable(caller)))
            try write(try text(try callValue(try eval(callee, scope), a)))
        case .filterBlock(let filters, let body):
            var value = Value.string(try capture(body, scope))
            for f in filters { value = try applyFilter(f.name, value, try arguments(f.arguments, scope)) }
            try write(try text(value))
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    private func forLoop(_ target: Target, _ iterableExpr: Expr, _ condition: Expr?, _ body: [Node], _ otherwise: [Node],
                         _ scope: Scope) throws -> Flow {
        var items = try iterate(try eval(iterableExpr, scope))
        let loopScope = Scope(parent: scope)
        if let condition {
            items = try items.filter { item in
                try tick()
                try assign(target, item, loopScope)
                return try eval(condition, loopScope).isTruthy
            }
        }
        if items.isEmpty { return try run(otherwise, scope) }
        let count = items.count
        for (index, item) in items.enumerated() {
            try tick()
            var loop = OrderedDict()
            loop["index"] = .int(index + 1)
            loop["index0"] = .int(index)
            loop["revindex"] = .int(count - index)
            loop["revindex0"] = .int(count - index - 1)
            loop["first"] = .bool(index == 0)
            loop["last"] = .bool(index == count - 1)
            loop["length"] = .int(count)
            loop["depth"] = .int(1)
            loop["depth0"] = .int(0)
            if index > 0 { loop["previtem"] = items[index - 1] }
            if index + 1 < count { loop["nextitem"] = items[index + 1] }
            loop["cycle"] = .callable(Callable("cycle") { args, _ in
                guard !args.positional.isEmpty else { throw TemplateError.type("no items for cycling given") }
                return args.positional[index % args.positional.count]
            })
            loopScope.variables["loop"] = .dict(loop)
            try assign(target, item, loopScope)
            if try run(body, loopScope) == .breakLoop { break }
        }
        return .normal
    }

    private func assign(_ target: Target, _ value: Value, _ scope: Scope) throws {
        switch target {
        case .name(let n):
            scope.variables[n] = value
        case .tuple(let names):
            let items = try iterate(value)
            guard items.count == names.count else {
                throw TemplateError.runtime("ValueError: expected \(names.count) values to unpack, got \(items.count)")
            }
            for (n, v) in zip(names, items) { scope.variables[n] = v }
        case .attribute(let object, let attribute):
            guard case .namespace(let ns) = scope.lookup(object) ?? .missing(object) else {
                throw TemplateError.runtime("TemplateRuntimeError: cannot assign attribute on non-namespace object")
            }
            ns.attributes[attribute] = value
        }
    }

    private func makeMacro(_ name: String, _ params: [(String, Expr?)], _ body: [Node], _ defining: Scope) -> Callable {
        Callable(name) { [unowned self] args, _ in
            try self.tick()
            let frame = Scope(parent: defining)
            var extra: [Value] = []
            for (i, value) in args.positional.enumerated() {
                if i < params.count { frame.variables[params[i].0] = value } else { extra.append(value) }
            }
            var kwargs = OrderedDict()
            for (k, v) in args.keyword {
                if k == "caller" { frame.variables["caller"] = v; continue }
                if params.contains(where: { $0.0 == k }) { frame.variables[k] = v } else { kwargs[k] = v }
            }
            for (pname, defaultExpr) in params where frame.variables[pname] == nil {
                frame.variables[pname] = try defaultExpr.map { try self.eval($0, frame) } ?? .missing(pname)
            }
            frame.variables["varargs"] = .list(extra)
            frame.variables["kwargs"] = .dict(kwargs)
            return .string(try self.capture(body, frame))
        }
    }

    // MARK: - Expressions

    func arguments(_ args: [Argument], _ scope: Scope) throws -> Arguments {
        var out = Arguments()
        for a in args {
            switch a {
            case .positional(let e): out.positional.append(try eval(e, scope))
            case .keyword(let k, let e): out.keyword.append((k, try eval(e, scope)))
            }
        }
        return out
    }

    func eval(_ expr: Expr, _ scope: Scope) throws -> Value {
        try enter()
        defer { depth -= 1 }
        switch expr {
        case .literal(let v): return v
        case .name(let n): return scope.lookup(n) ?? Globals.lookup(n) ?? .missing(n)
        case .list(let items): return .list(try items.map { try eval($0, scope) })
        case .tupleLiteral(let items): return .tuple(try items.map { try eval($0, scope) })
        case .dict(let pairs):
            var d = OrderedDict()
            for (k, v) in pairs {
                let key = try eval(k, scope)
                guard case .string(let ks) = key else { d[key.pythonString] = try eval(v, scope); continue }
                d[ks] = try eval(v, scope)
            }
            return .dict(d)
        case .attribute(let object, let name):
            return try Members.attribute(try eval(object, scope), name)
        case .item(let object, let index):
            return try Members.item(try eval(object, scope), try eval(index, scope))
        case .slice(let object, let a, let b, let c):
            return try Members.slice(try eval(object, scope), try a.map { try eval($0, scope) },
                                     try b.map { try eval($0, scope) }, try c.map { try eval($0, scope) })
        case .call(let callee, let args):
            return try callValue(try eval(callee, scope), try arguments(args, scope))
        case .filter(let value, let name, let args):
            return try applyFilter(name, try eval(value, scope), try arguments(args, scope))
        case .test(let value, let name, let args, let negated):
            let result = try Tests.apply(name, try eval(value, scope), try arguments(args, scope), self)
            return .bool(result != negated)
        case .not(let e): return .bool(!(try eval(e, scope).isTruthy))
        case .negate(let e): return try Operators.negate(try eval(e, scope))
        case .plus(let e):
            let v = try eval(e, scope)
            guard Operators.number(v) != nil else { throw TemplateError.type("bad operand type for unary +: '\(v.typeName)'") }
            return v
        case .binary(let op, let l, let r):
            return try Operators.binary(op, try eval(l, scope), try eval(r, scope), self)
        case .and(let l, let r):
            let left = try eval(l, scope)
            return left.isTruthy ? try eval(r, scope) : left
        case .or(let l, let r):
            let left = try eval(l, scope)
            return left.isTruthy ? left : try eval(r, scope)
        case .compare(let first, let rest):
            var left = try eval(first, scope)
            for (op, e) in rest {
                let right = try eval(e, scope)
                if !(try Operators.compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let condition, let then, let otherwise):
            if try eval(condition, scope).isTruthy { return try eval(then, scope) }
            return try otherwise.map { try eval($0, scope) } ?? .undefined("the inline if-expression evaluated to false and no else section was defined")
        }
    }

    func callValue(_ callee: Value, _ args: Arguments) throws -> Value {
        switch callee {
        case .callable(let c):
            try enter()
            defer { depth -= 1 }
            return try c.body(args, self)
        case .undefined(let message): throw TemplateError.runtime("UndefinedError: " + message)
        default: throw TemplateError.type("'\(callee.typeName)' object is not callable")
        }
    }

    func applyFilter(_ name: String, _ value: Value, _ args: Arguments) throws -> Value {
        try tick()
        return try Filters.apply(name, value, args, self)
    }

    /// What `for` iterates: list items, dict keys, string characters; undefined is empty.
    func iterate(_ value: Value) throws -> [Value] {
        switch value {
        case .list(let l), .tuple(let l): return l
        case .dict(let d): return d.keys.map(Value.string)
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw TemplateError.type("'\(value.typeName)' object is not iterable")
        }
    }
}
