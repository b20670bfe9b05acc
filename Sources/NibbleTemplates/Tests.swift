/// jinja2's tests (`x is defined`, `x is string`, …).
enum Tests {
    static let names: Set<String> = [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even", "false", "filter", "float",
        "ge", ">=", "gt", ">", "greaterthan", "in", "integer", "iterable", "le", "<=", "lt", "<", "lessthan", "lower", "mapping",
        "ne", "!=", "none", "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined", "upper",
    ]

    static func apply(_ name: String, _ v: Value, _ args: Arguments, _ interp: Interpreter) throws -> Bool {
        let arg = args.positional.first ?? args.keyword.first?.1 ?? .none
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "number": return Operators.number(v) != nil
        case "string": return v.stringValue != nil
        case "mapping": if case .dict = v { return true }; return false
        case "iterable":
            switch v { case .list, .tuple, .dict, .string, .undefined: return true; default: return false }
        case "sequence":
            switch v { case .list, .tuple, .dict, .string, .undefined: return true; default: return false }
        case "callable": if case .callable = v { return true }; return false
        case "escaped": return false
        case "filter": return v.stringValue.map(Filters.names.contains) ?? false
        case "test": return v.stringValue.map(names.contains) ?? false
        case "odd", "even":
            guard case .int(let i)? = Operators.number(v) else { throw TemplateError.type("not all arguments converted during string formatting") }
            return (i & 1 == 1) == (name == "odd")
        case "divisibleby":
            guard case .int(let i)? = Operators.number(v), case .int(let n)? = Operators.number(arg) else { throw TemplateError.type("divisibleby needs integers") }
            guard n != 0 else { throw TemplateError.runtime("ZeroDivisionError: integer division or modulo by zero") }
            return i % n == 0
        case "lower": return v.stringValue.map { $0 == $0.lowercased() } ?? false
        case "upper": return v.stringValue.map { $0 == $0.uppercased() } ?? false
        case "eq", "equalto", "==": return Operators.equal(v, arg)
        case "ne", "!=": return !Operators.equal(v, arg)
        case "sameas":
            switch (v, arg) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.bool, _), (_, .bool), (.none, _), (_, .none): return false
            default: return Operators.equal(v, arg)
            }
        case "lt", "<", "lessthan": return try Operators.less(v, arg)
        case "gt", ">", "greaterthan": return try Operators.less(arg, v)
        case "le", "<=": return try !Operators.less(arg, v)
        case "ge", ">=": return try !Operators.less(v, arg)
        case "in": return try Operators.contains(arg, v)
        default: throw TemplateError.runtime("TemplateRuntimeError: No test named '\(name)'.")
        }
    }
}
