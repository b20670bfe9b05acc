import Foundation

/// Python's `str % args` (`"%s"`, `"%d"`, `"%.2f"`, …), used by the `format` filter and the `%` operator.
enum PercentFormat {
    static func format(_ format: String, _ args: Value) throws -> String {
        var positional: [Value]
        var named: OrderedDict?
        switch args {
        case .list(let l), .tuple(let l): positional = l
        case .dict(let d): positional = [args]; named = d
        default: positional = [args]
        }
        var out = ""
        let chars = Array(format)
        var i = 0, next = 0
        while i < chars.count {
            guard chars[i] == "%" else { out.append(chars[i]); i += 1; continue }
            i += 1
            guard i < chars.count else { throw TemplateError.runtime("ValueError: incomplete format") }
            var value: Value?
            if chars[i] == "(" {
                guard let close = chars[i...].firstIndex(of: ")") else { throw TemplateError.runtime("ValueError: incomplete format key") }
                let key = String(chars[(i + 1)..<close])
                guard let v = named?[key] else { throw TemplateError.runtime("KeyError: '\(key)'") }
                value = v
                i = close + 1
            }
            var spec = ""
            while i < chars.count, "-+ #0123456789.".contains(chars[i]) { spec.append(chars[i]); i += 1 }
            guard i < chars.count else { throw TemplateError.runtime("ValueError: incomplete format") }
            let conversion = chars[i]
            i += 1
            if conversion == "%" { out += "%"; continue }
            if value == nil {
                guard next < positional.count else { throw TemplateError.type("not enough arguments for format string") }
                value = positional[next]
                next += 1
            }
            out += try convert(value!, spec, conversion)
        }
        if named == nil && next < positional.count { throw TemplateError.type("not all arguments converted during string formatting") }
        return out
    }

    private static func convert(_ v: Value, _ spec: String, _ conversion: Character) throws -> String {
        let leftAlign = spec.contains("-")
        let zeroPad = spec.hasPrefix("0") || spec.contains("+0") || spec.contains(" 0")
        let digits = spec.filter { $0.isNumber || $0 == "." }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        let width = min(Int(parts.first ?? "") ?? 0, 10_000)
        let precision = parts.count > 1 ? min(Int(parts[1]) ?? 0, 100) : nil
        var body: String
        switch conversion {
        case "s": body = v.pythonString; if let precision { body = String(body.prefix(precision)) }
        case "r": body = v.pythonRepr
        case "d", "i":
            guard let n = Operators.number(v) else { throw TemplateError.type("%d format: a number is required, not \(v.typeName)") }
            switch n { case .int(let i): body = String(i); case .double(let d): body = String(Int(exactly: d.rounded(.towardZero)) ?? 0) }
        case "f", "F", "e", "g":
            guard let n = Operators.number(v) else { throw TemplateError.type("must be real number, not \(v.typeName)") }
            body = String(format: "%.\(precision ?? 6)\(conversion)", n.double)
        case "x", "X", "o":
            guard case .int(let i)? = Operators.number(v) else { throw TemplateError.type("%x format: an integer is required") }
            body = String(i, radix: conversion == "o" ? 8 : 16, uppercase: conversion == "X")
        default: throw TemplateError.runtime("ValueError: unsupported format character '\(conversion)'")
        }
        if spec.contains("+"), conversion != "s", !body.hasPrefix("-") { body = "+" + body }
        let pad = width - body.count
        guard pad > 0 else { return body }
        if leftAlign { return body + String(repeating: " ", count: pad) }
        if zeroPad && conversion != "s" { return String(repeating: "0", count: pad) + body }
        return String(repeating: " ", count: pad) + body
    }
}

/// Python's `str.format` for plain fields: `{}`, `{0}`, `{name}`, `{{`/`}}`; format specs beyond that are refused.
enum BraceFormat {
    static func format(_ format: String, _ args: Arguments) throws -> String {
        var out = ""
        let chars = Array(format)
        var i = 0, auto = 0
        while i < chars.count {
            let c = chars[i]
            if c == "{" {
                if i + 1 < chars.count, chars[i + 1] == "{" { out += "{"; i += 2; continue }
                guard let close = chars[i...].firstIndex(of: "}") else { throw TemplateError.runtime("ValueError: Single '{' encountered in format string") }
                let field = String(chars[(i + 1)..<close])
                let name = field.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                let value: Value
                if name.isEmpty {
                    guard auto < args.positional.count else { throw TemplateError.runtime("IndexError: Replacement index \(auto) out of range") }
                    value = args.positional[auto]
                    auto += 1
                } else if let index = Int(name) {
                    guard index >= 0 && index < args.positional.count else { throw TemplateError.runtime("IndexError: Replacement index \(index) out of range") }
                    value = args.positional[index]
                } else {
                    guard let kw = args.keyword.first(where: { $0.0 == name }) else { throw TemplateError.runtime("KeyError: '\(name)'") }
                    value = kw.1
                }
                if field.contains(":") { throw TemplateError.runtime("ValueError: format specs are not supported in str.format") }
                out += value.pythonString
                i = close + 1
            } else if c == "}" {
                guard i + 1 < chars.count, chars[i + 1] == "}" else { throw TemplateError.runtime("ValueError: Single '}' encountered in format string") }
                out += "}"
                i += 2
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }
}
