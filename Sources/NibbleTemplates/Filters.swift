import Foundation

/// jinja2's builtin filters, with transformers' `tojson`.
enum Filters {
    static let names: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
        "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string",
        "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount",
    ]

    /// Python's `str.replace`, refusing before building a result past the size limit.
    static func replace(_ s: String, _ old: String, _ new: String, _ count: Int, _ interp: Interpreter) throws -> String {
        let slots = old.isEmpty ? s.unicodeScalars.count + 1 : s.components(separatedBy: old).count - 1
        let replaced = count < 0 ? slots : min(slots, count)
        try interp.checkSize(bytes: s.utf8.count + replaced * max(0, new.utf8.count - old.utf8.count))
        return replace(s, old, new, count)
    }

    static func replace(_ s: String, _ old: String, _ new: String, _ count: Int) -> String {
        if old.isEmpty {
            // Python inserts `new` between every character (and at both ends).
            var parts = s.unicodeScalars.map { String($0) }
            var limit = count < 0 ? parts.count + 1 : count
            var out = ""
            if limit > 0 { out += new; limit -= 1 }
            for (i, p) in parts.enumerated() {
                out += p
                if limit > 0 && i < parts.count { out += new; limit -= 1 }
            }
            parts = []
            return out
        }
        if count < 0 { return s.replacingOccurrences(of: old, with: new) }
        var out = ""
        var rest = Substring(s)
        var n = 0
        while n < count, let r = rest.range(of: old) {
            out += rest[..<r.lowerBound] + new
            rest = rest[r.upperBound...]
            n += 1
        }
        return out + rest
    }

    /// An optional argument, with an explicit None read as not given (as jinja2's `attribute=None`).
    private static func given(_ v: Value?) -> Value? {
        guard let v, !v.isNone else { return nil }
        return v
    }

    private static func undefinedCheck(_ v: Value) throws {
        if case .undefined(let m) = v { throw TemplateError.runtime("UndefinedError: " + m) }
    }

    /// `attribute="a.b.0"` lookups used by map, sort, selectattr, …
    static func lookupPath(_ v: Value, _ path: Value) throws -> Value {
        if case .int = path { return try Members.item(v, path) }
        var current = v
        for part in path.pythonString.split(separator: ".") {
            current = try Members.item(current, Int(part).map(Value.int) ?? .string(String(part)))
        }
        return current
    }

    private static func sortKey(_ v: Value, caseSensitive: Bool) -> Value {
        if !caseSensitive, case .string(let s) = v { return .string(s.lowercased()) }
        return v
    }

    private static func sorted(_ items: [Value], reverse: Bool, key: (Value) throws -> Value) throws -> [Value] {
        let keyed = try items.map { (try key($0), $0) }
        var failure: Error?
        let result = keyed.enumerated().sorted { a, b in
            do {
                if try Operators.less(a.element.0, b.element.0) { return !reverse }
                if try Operators.less(b.element.0, a.element.0) { return reverse }
            } catch { failure = error }
            return a.offset < b.offset
        }
        if let failure { throw failure }
        return result.map { $0.element.1 }
    }

    private static func int(_ args: Arguments, _ i: Int, _ name: String, _ defaultValue: Int) throws -> Int {
        guard let v = args.value(i, name) else { return defaultValue }
        guard case .int(let n)? = Operators.number(v) else { throw TemplateError.type("\(name) must be an integer") }
        return n
    }

    static func apply(_ name: String, _ v: Value, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        switch name {
        case "default", "d":
            let fallback = args.value(0, "default_value") ?? .string("")
            let boolean = args.value(1, "boolean")?.isTruthy ?? false
            return v.isUndefined || (boolean && !v.isTruthy) ? fallback : v
        case "safe": return v
        case "string": return .string(try interp.text(v))
        case "escape", "e", "forceescape":
            var s = v.pythonString
            for (a, b) in [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\"", "&#34;"), ("'", "&#39;")] { s = s.replacingOccurrences(of: a, with: b) }
            return .string(s)
        case "lower": try undefinedCheck(v); return .string(v.pythonString.lowercased())
        case "upper": try undefinedCheck(v); return .string(v.pythonString.uppercased())
        case "capitalize": return .string(PythonString.capitalize(v.pythonString))
        case "title":
            // jinja2 capitalises after spaces, dashes and opening brackets.
            var out = "", atStart = true
            for ch in v.pythonString {
                out += atStart ? ch.uppercased() : ch.lowercased()
                atStart = ch.isWhitespace || "-({[<".contains(ch)
            }
            return .string(out)
        case "trim":
            let chars = args.value(0, "chars").flatMap(\.stringValue)
            return .string(PythonString.strip(v.pythonString, chars, leading: true, trailing: true))
        case "striptags":
            let s = v.pythonString.replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression)
            return .string(try PythonString.split(s, nil, maxsplit: -1).joined(separator: " "))
        case "replace":
            guard let old = args.value(0, "old"), let new = args.value(1, "new") else { throw TemplateError.type("replace needs old and new") }
            let count = try int(args, 2, "count", -1)
            return .string(try interp.checkSize(try replace(v.pythonString, old.pythonString, new.pythonString, count, interp)))
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .list(let l), .tuple(let l): return .int(l.count)
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            default: throw TemplateError.type("object of type '\(v.typeName)' has no len()")
            }
        case "wordcount":
            var count = 0, inWord = false
            for ch in v.pythonString { let w = ch.isLetter || ch.isNumber || ch == "_"; if w && !inWord { count += 1 }; inWord = w }
            return .int(count)
        case "first", "last":
            let items = try interp.iterate(v)
            return (name == "first" ? items.first : items.last) ?? .undefined("No \(name) item, sequence was empty.")
        case "list": return .list(try interp.iterate(v))
        case "reverse":
            if case .string(let s) = v { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .list(try interp.iterate(v).reversed())
        case "join":
            let sep = args.value(0, "d")?.pythonString ?? ""
            var items = try interp.iterate(v)
            if let attribute = given(args.value(1, "attribute")) { items = try items.map { try lookupPath($0, attribute) } }
            let texts = try items.map { try interp.text($0) }
            try interp.checkSize(bytes: texts.reduce(0) { $0 + $1.utf8.count } + sep.utf8.count * max(0, texts.count - 1))
            return .string(try interp.checkSize(texts.joined(separator: sep)))
        case "items":
            if v.isUndefined { return .list([]) }
            guard case .dict(let d) = v else { throw TemplateError.type("can only get item pairs from a mapping.") }
            return .list(d.pairs.map { .tuple([.string($0.0), $0.1]) })
        case "dictsort":
            guard case .dict(let d) = v else { throw TemplateError.type("dictsort needs a mapping") }
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let byValue = args.value(1, "by")?.stringValue == "value"
            let reverse = args.value(2, "reverse")?.isTruthy ?? false
            let pairs = d.pairs.map { Value.tuple([.string($0.0), $0.1]) }
            return .list(try sorted(pairs, reverse: reverse) { pair in
                guard case .tuple(let kv) = pair else { return pair }
                return sortKey(kv[byValue ? 1 : 0], caseSensitive: caseSensitive)
            })
        case "sort":
            let reverse = args.value(0, "reverse")?.isTruthy ?? false
            let caseSensitive = args.value(1, "case_sensitive")?.isTruthy ?? false
            let attribute = given(args.value(2, "attribute"))
            return .list(try sorted(try interp.iterate(v), reverse: reverse) { item in
                sortKey(try attribute.map { try lookupPath(item, $0) } ?? item, caseSensitive: caseSensitive)
            })
        case "unique":
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let attribute = given(args.value(1, "attribute"))
            var seen: [Value] = []
            var out: [Value] = []
            for item in try interp.iterate(v) {
                let key = sortKey(try attribute.map { try lookupPath(item, $0) } ?? item, caseSensitive: caseSensitive)
                if !seen.contains(where: { Operators.equal($0, key) }) { seen.append(key); out.append(item) }
            }
            return .list(out)
        case "min", "max":
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let attribute = given(args.value(1, "attribute"))
            let items = try sorted(try interp.iterate(v), reverse: name == "max") { item in
                sortKey(try attribute.map { try lookupPath(item, $0) } ?? item, caseSensitive: caseSensitive)
            }
            return items.first ?? .undefined("No aggregated item, sequence was empty.")
        case "sum":
            let attribute = given(args.value(0, "attribute"))
            var total = args.value(1, "start") ?? .int(0)
            for item in try interp.iterate(v) {
                total = try Operators.binary("+", total, try attribute.map { try lookupPath(item, $0) } ?? item, interp)
            }
            return total
        case "abs":
            switch Operators.number(v) {
            case .int(let i)?: guard i != Int.min else { throw TemplateError.runtime("OverflowError: integer too large") }; return .int(abs(i))
            case .double(let d)?: return .double(abs(d))
            case nil: throw TemplateError.type("bad operand type for abs(): '\(v.typeName)'")
            }
        case "round":
            let precision = try int(args, 0, "precision", 0)
            let method = args.value(1, "method")?.stringValue ?? "common"
            guard let n = Operators.number(v) else { throw TemplateError.type("round needs a number") }
            let scale = pow(10.0, Double(min(max(precision, -300), 300)))
            let rule: FloatingPointRoundingRule = method == "ceil" ? .up : method == "floor" ? .down : .toNearestOrEven
            return .double((n.double * scale).rounded(rule) / scale)
        case "int":
            let fallback = args.value(0, "default") ?? .int(0)
            switch v {
            case .int: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return d.isFinite && abs(d) < 9e18 ? .int(Int(d)) : fallback
            case .string(let s):
                let t = s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
                if let i = Int(t) { return .int(i) }
                if let d = Double(t), d.isFinite, abs(d) < 9e18 { return .int(Int(d)) }
                return fallback
            default: return fallback
            }
        case "float":
            let fallback = args.value(0, "default") ?? .double(0)
            switch v {
            case .int(let i): return .double(Double(i))
            case .bool(let b): return .double(b ? 1 : 0)
            case .double: return v
            case .string(let s): return Double(s.trimmingCharacters(in: .whitespaces)).map(Value.double) ?? fallback
            default: return fallback
            }
        case "format":
            if !args.keyword.isEmpty { return .string(try PercentFormat.format(v.pythonString, .dict(OrderedDict(args.keyword)))) }
            return .string(try interp.checkSize(try PercentFormat.format(v.pythonString, .list(args.positional))))
        case "center":
            let width = try int(args, 0, "width", 80)
            guard let center = Members.stringMethod(v.pythonString, "center") else { return v }
            return try center.body(Arguments(positional: [.int(width)]), interp)
        case "indent": return .string(try interp.checkSize(try indent(v.pythonString, args, interp)))
        case "truncate":
            let s = v.pythonString
            let length = try int(args, 0, "length", 255)
            let killwords = args.value(1, "killwords")?.isTruthy ?? false
            let end = args.value(2, "end")?.pythonString ?? "..."
            let leeway = try int(args, 3, "leeway", 5)
            if s.count <= length + leeway { return v }
            if killwords { return .string(String(s.prefix(max(0, length - end.count))) + end) }
            var cut = String(s.prefix(max(0, length - end.count)))
            if let space = cut.lastIndex(of: " ") { cut = String(cut[..<space]) }
            return .string(cut + end)
        case "batch", "slice":
            let n = try int(args, 0, name == "batch" ? "linecount" : "slices", 1)
            guard n > 0 else { throw TemplateError.runtime("ValueError: \(name) size must be positive") }
            let fill = args.value(1, "fill_with")
            let items = try interp.iterate(v)
            var out: [Value] = []
            if name == "batch" {
                var i = 0
                while i < items.count {
                    var chunk = Array(items[i..<min(i + n, items.count)])
                    if let fill { while chunk.count < n { chunk.append(fill) } }
                    out.append(.list(chunk))
                    i += n
                }
            } else {
                let per = items.count / n, extra = items.count % n
                var offset = 0
                for k in 0..<min(n, 10_000) {
                    let size = per + (k < extra ? 1 : 0)
                    var chunk = Array(items[offset..<offset + size])
                    offset += size
                    if let fill, k >= extra, extra > 0 { chunk.append(fill) }
                    out.append(.list(chunk))
                }
            }
            return .list(out)
        case "attr":
            guard case .string(let attribute)? = args.positional.first else { throw TemplateError.type("attr needs a name") }
            return try Members.attribute(v, attribute)
        case "tojson":
            _ = try interp.text(v)
            return .string(try interp.checkSize(try tojson(v, args)))
        case "map": return .list(try map(v, args, interp))
        case "select", "reject", "selectattr", "rejectattr": return .list(try select(name, v, args, interp))
        default: throw TemplateError.runtime("TemplateRuntimeError: No filter named '\(name)'.")
        }
    }

    /// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)` → `json.dumps`.
    private static func tojson(_ v: Value, _ args: Arguments) throws -> String {
        let ensureASCII = args.value(0, "ensure_ascii")?.isTruthy ?? false
        var indent: String?
        switch args.value(1, "indent") {
        case .int(let n)?: indent = String(repeating: " ", count: max(0, min(n, 1000)))
        case .string(let s)?: indent = s
        case .none?, nil: indent = nil
        case let other?: throw TemplateError.type("indent must be an int or a str, not \(other.typeName)")
        }
        var separators: (String, String)?
        if let seps = args.value(2, "separators")?.sequenceItems {
            guard seps.count == 2, case .string(let a) = seps[0], case .string(let b) = seps[1] else {
                throw TemplateError.runtime("ValueError: separators must be a (item, key) pair of strings")
            }
            separators = (a, b)
        }
        let sortKeys = args.value(3, "sort_keys")?.isTruthy ?? false
        return try TemplateJSON.dumps(v, ensureASCII: ensureASCII, indent: indent, separators: separators, sortKeys: sortKeys)
    }

    /// jinja2 3.x `indent(width=4, first=False, blank=False)`.
    private static func indent(_ s: String, _ args: Arguments, _ interp: Interpreter) throws -> String {
        let indention: String
        switch args.value(0, "width") {
        case .string(let w)?: indention = w
        case let w?:
            guard case .int(let n)? = Operators.number(w) else { throw TemplateError.type("indent width must be an int or a str") }
            indention = String(repeating: " ", count: max(0, min(n, 10_000)))
        case nil: indention = "    "
        }
        let first = args.value(1, "first")?.isTruthy ?? false
        let blank = args.value(2, "blank")?.isTruthy ?? false
        var lines = PythonString.splitlines(s + "\n")
        try interp.checkSize(bytes: s.utf8.count + (lines.count + 1) * indention.utf8.count)
        var rv: String
        if blank {
            rv = lines.joined(separator: "\n" + indention)
        } else {
            rv = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty { rv += "\n" + lines.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
        }
        return first ? indention + rv : rv
    }

    private static func map(_ v: Value, _ args: Arguments, _ interp: Interpreter) throws -> [Value] {
        let items = try interp.iterate(v)
        if let attribute = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = args.keyword.first(where: { $0.0 == "default" })?.1
            return try items.map { item in
                let found = try lookupPath(item, attribute)
                if found.isUndefined, let fallback { return fallback }
                return found
            }
        }
        guard case .string(let filter)? = args.positional.first else { throw TemplateError.type("map needs a filter name or attribute=") }
        guard names.contains(filter) else { throw TemplateError.runtime("TemplateRuntimeError: No filter named '\(filter)'.") }
        let rest = Arguments(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
        return try items.map { try interp.applyFilter(filter, $0, rest) }
    }

    private static func select(_ name: String, _ v: Value, _ args: Arguments, _ interp: Interpreter) throws -> [Value] {
        let byAttribute = name.hasSuffix("attr")
        let keep = name.hasPrefix("select")
        var positional = args.positional
        var attribute: Value?
        if byAttribute {
            guard !positional.isEmpty else { throw TemplateError.type("\(name) needs an attribute name") }
            attribute = positional.removeFirst()
        }
        let test = positional.first?.stringValue
        if let test, !Tests.names.contains(test) { throw TemplateError.runtime("TemplateRuntimeError: No test named '\(test)'.") }
        let testArgs = Arguments(positional: Array(positional.dropFirst()), keyword: [])
        return try interp.iterate(v).filter { item in
            try interp.tick()
            let subject = try attribute.map { try lookupPath(item, $0) } ?? item
            let passed = try test.map { try Tests.apply($0, subject, testArgs, interp) } ?? subject.isTruthy
            return passed == keep
        }
    }
}
