import Foundation

/// Attribute and item access, slicing, and the str/dict/list methods templates call.
enum Members {
    static func undefinedError(_ v: Value) -> TemplateError? {
        if case .undefined(let m) = v { return .runtime("UndefinedError: " + m) }
        return nil
    }

    /// `object.name`: a method or attribute first, then an item (jinja2's `getattr`).
    static func attribute(_ object: Value, _ name: String) throws -> Value {
        if let e = undefinedError(object) { throw e }
        if let method = try method(object, name) { return .callable(method) }
        switch object {
        case .dict(let d): return d[name] ?? .undefined("'dict object' has no attribute '\(name)'")
        case .namespace(let ns): return ns.attributes[name] ?? .undefined("'Namespace' object has no attribute '\(name)'")
        case .none: return .undefined("'None' has no attribute '\(name)'")
        default: return .undefined("'\(object.typeName) object' has no attribute '\(name)'")
        }
    }

    /// `object[key]`: an item first, then an attribute (jinja2's `getitem`).
    static func item(_ object: Value, _ key: Value) throws -> Value {
        if let e = undefinedError(object) { throw e }
        switch (object, key) {
        case (.dict(let d), .string(let k)):
            if let v = d[k] { return v }
            return try attribute(object, k)
        case (.list(let l), _), (.tuple(let l), _):
            guard case .int(let i)? = Operators.number(key) else { break }
            let index = i < 0 ? i + l.count : i
            return index >= 0 && index < l.count ? l[index] : .undefined("list object has no element \(i)")
        case (.string(let s), _):
            guard case .int(let i)? = Operators.number(key) else { break }
            let scalars = Array(s.unicodeScalars)
            let index = i < 0 ? i + scalars.count : i
            return index >= 0 && index < scalars.count ? .string(String(scalars[index])) : .undefined("str object has no element \(i)")
        case (.namespace, .string(let k)): return try attribute(object, k)
        default: break
        }
        if case .string(let k) = key { return try attribute(object, k) }
        return .undefined("'\(object.typeName) object' has no element \(key.pythonRepr)")
    }

    /// Python slice semantics, negative steps included.
    static func slice(_ object: Value, _ start: Value?, _ stop: Value?, _ step: Value?) throws -> Value {
        if let e = undefinedError(object) { throw e }
        func int(_ v: Value?) throws -> Int? {
            guard let v, !v.isNone else { return nil }
            guard case .int(let i)? = Operators.number(v) else { throw TemplateError.type("slice indices must be integers or None") }
            return i
        }
        let stepValue = try int(step) ?? 1
        guard stepValue != 0 else { throw TemplateError.runtime("ValueError: slice step cannot be zero") }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ v: Int?, _ defaultValue: Int) -> Int {
                guard var x = v else { return defaultValue }
                if x < 0 { x += count }
                return stepValue > 0 ? min(max(x, 0), count) : min(max(x, -1), count - 1)
            }
            let lo = clamp(try int(start), stepValue > 0 ? 0 : count - 1)
            let hi = clamp(try int(stop), stepValue > 0 ? count : -1)
            return Array(stride(from: lo, to: hi, by: stepValue))
        }
        switch object {
        case .list(let l): return .list(try indices(l.count).map { l[$0] })
        case .tuple(let l): return .tuple(try indices(l.count).map { l[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            return .string(String(String.UnicodeScalarView(try indices(scalars.count).map { scalars[$0] })))
        default: throw TemplateError.type("'\(object.typeName)' object is not subscriptable")
        }
    }

    // MARK: - Methods

    private static let unsafeList: Set<String> = ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"]
    private static let unsafeDict: Set<String> = ["update", "pop", "popitem", "clear", "setdefault"]

    static func method(_ object: Value, _ name: String) throws -> Callable? {
        switch object {
        case .string(let s): return stringMethod(s, name)
        case .dict(let d):
            if unsafeDict.contains(name) { throw TemplateError.runtime("SecurityError: access to attribute '\(name)' of 'dict' object is unsafe.") }
            switch name {
            case "items": return Callable(name) { _, _ in .list(d.pairs.map { .tuple([.string($0.0), $0.1]) }) }
            case "keys": return Callable(name) { _, _ in .list(d.keys.map(Value.string)) }
            case "values": return Callable(name) { _, _ in .list(d.values) }
            case "get":
                return Callable(name) { args, _ in
                    guard case .string(let k)? = args.value(0, "key") else { return args.value(1, "default") ?? .none }
                    return d[k] ?? args.value(1, "default") ?? .none
                }
            case "copy": return Callable(name) { _, _ in .dict(d) }
            default: return nil
            }
        case .list(let l), .tuple(let l):
            if unsafeList.contains(name) { throw TemplateError.runtime("SecurityError: access to attribute '\(name)' of '\(object.typeName)' object is unsafe.") }
            switch name {
            case "index":
                return Callable(name) { args, _ in
                    let x = args.value(0, "value") ?? .none
                    guard let i = l.firstIndex(where: { Operators.equal($0, x) }) else { throw TemplateError.runtime("ValueError: \(x.pythonRepr) is not in list") }
                    return .int(i)
                }
            case "count":
                return Callable(name) { args, _ in
                    let x = args.value(0, "value") ?? .none
                    return .int(l.filter { Operators.equal($0, x) }.count)
                }
            case "copy" where object.typeName == "list": return Callable(name) { _, _ in .list(l) }
            default: return nil
            }
        default: return nil
        }
    }

    private static func str(_ args: Arguments, _ i: Int, _ name: String) throws -> String? {
        guard let v = args.value(i, name), !v.isNone else { return nil }
        guard case .string(let s) = v else { throw TemplateError.type("\(name) must be str, not \(v.typeName)") }
        return s
    }

    private static func affixes(_ args: Arguments) throws -> [String] {
        switch args.value(0, "prefix") {
        case .string(let s)?: return [s]
        case .list(let l)?, .tuple(let l)?: return try l.map { guard case .string(let s) = $0 else { throw TemplateError.type("tuple for startswith must only contain str") }; return s }
        case let v?: throw TemplateError.type("startswith first arg must be str or a tuple of str, not \(v.typeName)")
        case nil: throw TemplateError.type("startswith() takes at least 1 argument (0 given)")
        }
    }

    static func stringMethod(_ s: String, _ name: String) -> Callable? {
        let body: ((Arguments, Interpreter) throws -> Value)?
        switch name {
        case "strip": body = { a, _ in .string(PythonString.strip(s, try str(a, 0, "chars"), leading: true, trailing: true)) }
        case "lstrip": body = { a, _ in .string(PythonString.strip(s, try str(a, 0, "chars"), leading: true, trailing: false)) }
        case "rstrip": body = { a, _ in .string(PythonString.strip(s, try str(a, 0, "chars"), leading: false, trailing: true)) }
        case "upper": body = { _, _ in .string(s.uppercased()) }
        case "lower": body = { _, _ in .string(s.lowercased()) }
        case "title": body = { _, _ in .string(PythonString.title(s)) }
        case "capitalize": body = { _, _ in .string(PythonString.capitalize(s)) }
        case "swapcase": body = { _, _ in .string(String(s.map { $0.isUppercase ? Character($0.lowercased()) : Character($0.uppercased()) })) }
        case "split", "rsplit":
            body = { a, _ in
                var maxsplit = -1
                if case .int(let m)? = a.value(1, "maxsplit") { maxsplit = m }
                let sep = try str(a, 0, "sep")
                if name == "rsplit", maxsplit >= 0, let sep {
                    // Split everywhere, then glue back the leftmost pieces beyond maxsplit.
                    let parts = try PythonString.split(s, sep, maxsplit: -1)
                    guard parts.count > maxsplit + 1 else { return .list(parts.map(Value.string)) }
                    let keep = parts.count - maxsplit
                    return .list(([parts[..<keep].joined(separator: sep)] + parts[keep...]).map(Value.string))
                }
                return .list(try PythonString.split(s, sep, maxsplit: name == "split" ? maxsplit : -1).map(Value.string))
            }
        case "splitlines": body = { a, _ in .list(PythonString.splitlines(s, keepends: a.value(0, "keepends")?.isTruthy ?? false).map(Value.string)) }
        case "startswith": body = { a, _ in .bool(try affixes(a).contains { s.unicodeScalars.starts(with: $0.unicodeScalars) }) }
        case "endswith": body = { a, _ in .bool(try affixes(a).contains { s.unicodeScalars.reversed().starts(with: $0.unicodeScalars.reversed()) }) }
        case "replace":
            body = { a, interp in
                guard let old = try str(a, 0, "old"), let new = try str(a, 1, "new") else { throw TemplateError.type("replace() takes 2 arguments") }
                var count = -1
                if case .int(let c)? = a.value(2, "count") { count = c }
                return .string(try interp.checkSize(try Filters.replace(s, old, new, count, interp)))
            }
        case "find", "rfind", "index", "rindex", "count":
            body = { a, _ in
                guard let sub = try str(a, 0, "sub") else { throw TemplateError.type("\(name)() takes at least 1 argument") }
                let hay = Array(s.unicodeScalars), needle = Array(sub.unicodeScalars)
                var hits: [Int] = []
                if needle.count <= hay.count {
                    var i = 0
                    while i + needle.count <= hay.count {
                        if Array(hay[i..<i + needle.count]) == needle { hits.append(i); i += max(needle.count, 1); if name != "count" && name != "rfind" && name != "rindex" { break } } else { i += 1 }
                    }
                }
                if name == "count" { return .int(needle.isEmpty ? hay.count + 1 : hits.count) }
                let found = name.hasPrefix("r") ? hits.last : hits.first
                if found == nil && name.hasSuffix("index") { throw TemplateError.runtime("ValueError: substring not found") }
                return .int(found ?? -1)
            }
        case "join":
            body = { a, interp in
                let items = try interp.iterate(a.value(0, "iterable") ?? .list([]))
                let texts = try items.map { v -> String in
                    guard case .string(let t) = v else { throw TemplateError.type("sequence item: expected str instance, \(v.typeName) found") }
                    return t
                }
                try interp.checkSize(bytes: texts.reduce(0) { $0 + $1.utf8.count } + s.utf8.count * max(0, texts.count - 1))
                return .string(try interp.checkSize(texts.joined(separator: s)))
            }
        case "format": body = { a, interp in .string(try interp.checkSize(try BraceFormat.format(s, a))) }
        case "isdigit": body = { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
        case "isnumeric": body = { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
        case "isalpha": body = { _, _ in .bool(!s.isEmpty && s.allSatisfy(\.isLetter)) }
        case "isalnum": body = { _, _ in .bool(!s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber }) }
        case "isspace": body = { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(PythonString.isSpace)) }
        case "islower": body = { _, _ in .bool(s.contains(where: \.isLowercase) && !s.contains(where: \.isUppercase)) }
        case "isupper": body = { _, _ in .bool(s.contains(where: \.isUppercase) && !s.contains(where: \.isLowercase)) }
        case "removeprefix": body = { a, _ in let p = try str(a, 0, "prefix") ?? ""; return .string(s.hasPrefix(p) ? String(s.dropFirst(p.count)) : s) }
        case "removesuffix": body = { a, _ in let p = try str(a, 0, "suffix") ?? ""; return .string(s.hasSuffix(p) && !p.isEmpty ? String(s.dropLast(p.count)) : s) }
        case "center", "ljust", "rjust", "zfill":
            body = { a, interp in
                guard case .int(let width)? = a.value(0, "width") else { throw TemplateError.type("\(name)() needs an integer width") }
                let n = s.unicodeScalars.count
                guard width > n else { return .string(s) }
                _ = try interp.checkSize(String(repeating: " ", count: min(width, interp.limits.maxOutputBytes + 1)))
                let fill = name == "zfill" ? "0" : (try str(a, 1, "fillchar") ?? " ")
                let pad = width - n
                switch name {
                case "ljust": return .string(s + String(repeating: fill, count: pad))
                case "rjust", "zfill": return .string(String(repeating: fill, count: pad) + s)
                default:
                    let left = pad / 2 + (pad & width & 1)
                    return .string(String(repeating: fill, count: left) + s + String(repeating: fill, count: pad - left))
                }
            }
        default: body = nil
        }
        return body.map { Callable(name, $0) }
    }
}
