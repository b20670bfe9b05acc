import Foundation

/// Python's arithmetic, comparison and membership on template values.
enum Operators {
    enum Number { case int(Int), double(Double)
        var double: Double { switch self { case .int(let i): return Double(i); case .double(let d): return d } }
    }

    /// The number a value is (bools count as 0 and 1, as in Python).
    static func number(_ v: Value) -> Number? {
        switch v {
        case .int(let i): return .int(i)
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d): return .double(d)
        default: return nil
        }
    }

    static func negate(_ v: Value) throws -> Value {
        switch number(v) {
        case .int(let i)?:
            guard i != Int.min else { throw TemplateError.runtime("OverflowError: integer too large") }
            return .int(-i)
        case .double(let d)?: return .double(-d)
        case nil: throw TemplateError.type("bad operand type for unary -: '\(v.typeName)'")
        }
    }

    private static func unsupported(_ op: String, _ l: Value, _ r: Value) -> TemplateError {
        if case .undefined(let m) = l { return .runtime("UndefinedError: " + m) }
        if case .undefined(let m) = r { return .runtime("UndefinedError: " + m) }
        if op == "+", case .string = l { return .type("can only concatenate str (not \"\(r.typeName)\") to str") }
        if op == "+", case .list = l { return .type("can only concatenate list (not \"\(r.typeName)\") to list") }
        if op == "+", case .tuple = l { return .type("can only concatenate tuple (not \"\(r.typeName)\") to tuple") }
        return .type("unsupported operand type(s) for \(op): '\(l.typeName)' and '\(r.typeName)'")
    }

    private static func overflow() -> TemplateError { .runtime("OverflowError: integer result too large") }

    static func binary(_ op: String, _ l: Value, _ r: Value, _ interp: Interpreter) throws -> Value {
        if op == "~" { return .string(try interp.checkSize(try interp.text(l) + interp.text(r))) }
        switch (l, r) {
        case (.string(let a), .string(let b)) where op == "+": return .string(try interp.checkSize(a + b))
        case (.list(let a), .list(let b)) where op == "+":
            try interp.checkCount(a.count + b.count)
            return .list(a + b)
        case (.tuple(let a), .tuple(let b)) where op == "+":
            try interp.checkCount(a.count + b.count)
            return .tuple(a + b)
        case (.string(let s), _) where op == "*", (_, .string(let s)) where op == "*":
            guard case .int(let n)? = number(l.stringValue == nil ? l : r) else { throw unsupported(op, l, r) }
            let count = max(0, n)
            if count > 0 && s.utf8.count > interp.limits.maxOutputBytes / count { _ = try interp.checkSize(String(repeating: "x", count: interp.limits.maxOutputBytes + 1)) }
            return .string(String(repeating: s, count: count))
        case (.list(let a), _) where op == "*", (.tuple(let a), _) where op == "*":
            guard case .int(let n)? = number(r) else { throw unsupported(op, l, r) }
            let count = max(0, n)
            if count > 0 && a.count > interp.limits.maxItems / count { try interp.checkCount(interp.limits.maxItems + 1) }
            let items = Array(repeating: a, count: count).flatMap { $0 }
            if case .tuple = l { return .tuple(items) }
            return .list(items)
        case (.string(let format), _) where op == "%":
            _ = try interp.text(r)
            return .string(try interp.checkSize(try PercentFormat.format(format, r)))
        default: break
        }
        guard let a = number(l), let b = number(r) else { throw unsupported(op, l, r) }
        switch (a, b) {
        case (.int(let x), .int(let y)):
            switch op {
            case "+": let (v, o) = x.addingReportingOverflow(y); if o { throw overflow() }; return .int(v)
            case "-": let (v, o) = x.subtractingReportingOverflow(y); if o { throw overflow() }; return .int(v)
            case "*": let (v, o) = x.multipliedReportingOverflow(by: y); if o { throw overflow() }; return .int(v)
            case "/":
                guard y != 0 else { throw TemplateError.runtime("ZeroDivisionError: division by zero") }
                return .double(Double(x) / Double(y))
            case "//":
                guard y != 0 else { throw TemplateError.runtime("ZeroDivisionError: integer division or modulo by zero") }
                if x == Int.min && y == -1 { throw overflow() }
                let q = x / y
                return .int((x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q)
            case "%":
                guard y != 0 else { throw TemplateError.runtime("ZeroDivisionError: integer division or modulo by zero") }
                if y == -1 { return .int(0) }
                let m = x % y
                return .int(m != 0 && (m < 0) != (y < 0) ? m + y : m)
            case "**":
                if y < 0 { return .double(pow(Double(x), Double(y))) }
                var result = 1, base = x, e = y
                while e > 0 {
                    if e & 1 == 1 { let (v, o) = result.multipliedReportingOverflow(by: base); if o { throw overflow() }; result = v }
                    e >>= 1
                    if e > 0 { let (v, o) = base.multipliedReportingOverflow(by: base); if o { throw overflow() }; base = v }
                }
                return .int(result)
            default: throw unsupported(op, l, r)
            }
        default:
            let x = a.double, y = b.double
            switch op {
            case "+": return .double(x + y)
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/":
                guard y != 0 else { throw TemplateError.runtime("ZeroDivisionError: float division by zero") }
                return .double(x / y)
            case "//":
                guard y != 0 else { throw TemplateError.runtime("ZeroDivisionError: float floor division by zero") }
                return .double((x / y).rounded(.down))
            case "%":
                guard y != 0 else { throw TemplateError.runtime("ZeroDivisionError: float modulo") }
                let m = fmod(x, y)
                return .double(m != 0 && (m < 0) != (y < 0) ? m + y : m)
            case "**": return .double(pow(x, y))
            default: throw unsupported(op, l, r)
            }
        }
    }

    /// Python `==`.
    static func equal(_ l: Value, _ r: Value) -> Bool {
        switch (l, r) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a == b
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { equal($0, $1) }
        case (.dict(let a), .dict(let b)):
            return a.count == b.count && a.pairs.allSatisfy { k, v in b[k].map { equal(v, $0) } ?? false }
        case (.namespace(let a), .namespace(let b)): return a === b
        case (.callable(let a), .callable(let b)): return a === b
        default:
            guard let a = number(l), let b = number(r) else { return false }
            if case .int(let x) = a, case .int(let y) = b { return x == y }
            return a.double == b.double
        }
    }

    /// Python `<`.
    static func less(_ l: Value, _ r: Value) throws -> Bool {
        switch (l, r) {
        case (.string(let a), .string(let b)): return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where !equal(x, y) { return try less(x, y) }
            return a.count < b.count
        default:
            guard let a = number(l), let b = number(r) else {
                if case .undefined(let m) = l { throw TemplateError.runtime("UndefinedError: " + m) }
                if case .undefined(let m) = r { throw TemplateError.runtime("UndefinedError: " + m) }
                throw TemplateError.type("'<' not supported between instances of '\(l.typeName)' and '\(r.typeName)'")
            }
            if case .int(let x) = a, case .int(let y) = b { return x < y }
            return a.double < b.double
        }
    }

    static func contains(_ container: Value, _ item: Value) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let sub) = item else {
                throw TemplateError.type("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return sub.isEmpty || s.contains(sub)
        case .list(let l), .tuple(let l): return l.contains { equal($0, item) }
        case .dict(let d):
            guard case .string(let k) = item else { return false }
            return d[k] != nil
        case .undefined: return false
        default: throw TemplateError.type("argument of type '\(container.typeName)' is not iterable")
        }
    }

    static func compare(_ op: String, _ l: Value, _ r: Value) throws -> Bool {
        switch op {
        case "==": return equal(l, r)
        case "!=": return !equal(l, r)
        case "<": return try less(l, r)
        case ">": return try less(r, l)
        case "<=": return try !less(r, l)
        case ">=": return try !less(l, r)
        case "in": return try contains(r, l)
        case "notin": return try !contains(r, l)
        default: throw TemplateError.runtime("unknown comparison \(op)")
        }
    }
}
