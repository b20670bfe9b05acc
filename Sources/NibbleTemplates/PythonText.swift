import Foundation

/// How Python prints values: `str()` for output, `repr()` inside containers, float formatting.
extension Value {
    /// Python `str()` (jinja2 prints values this way; undefined prints as nothing).
    public var pythonString: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pythonRepr
        }
    }

    /// Python `repr()`.
    public var pythonRepr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return PythonFloat.repr(d)
        case .string(let s): return PythonString.repr(s)
        case .list(let l): return "[" + l.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .tuple(let l) where l.count == 1: return "(" + l[0].pythonRepr + ",)"
        case .tuple(let l): return "(" + l.map(\.pythonRepr).joined(separator: ", ") + ")"
        case .dict(let d):
            return "{" + d.pairs.map { PythonString.repr($0.0) + ": " + $0.1.pythonRepr }.joined(separator: ", ") + "}"
        case .namespace(let ns):
            return "<Namespace " + ns.attributes.pairs.map { "\($0.0)=\($0.1.pythonRepr)" }.joined(separator: ", ") + ">"
        case .callable(let c): return "<function \(c.name)>"
        }
    }
}

enum PythonFloat {
    /// `float.__repr__`: the shortest round-tripping digits, fixed notation for exponents -4 ..< 16.
    static func repr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description is also shortest-round-trip; only the layout differs.
        var text = "\(abs(d))"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = intPart + fracPart
        var pointPos = intPart.count + exponent  // digits before the decimal point
        let leadingZeros = digits.prefix { $0 == "0" }.count
        digits.removeFirst(leadingZeros)
        pointPos -= leadingZeros
        while digits.hasSuffix("0") { digits.removeLast() }
        if digits.isEmpty { digits = "0" }
        let sciExponent = pointPos - 1
        let sign = d < 0 ? "-" : ""
        if sciExponent < -4 || sciExponent >= 16 {
            var mantissa = String(digits.first!)
            if digits.count > 1 { mantissa += "." + digits.dropFirst() }
            let expText = String(abs(sciExponent))
            return sign + mantissa + "e" + (sciExponent < 0 ? "-" : "+") + (expText.count < 2 ? "0" + expText : expText)
        }
        if pointPos <= 0 { return sign + "0." + String(repeating: "0", count: -pointPos) + digits }
        if pointPos >= digits.count { return sign + digits + String(repeating: "0", count: pointPos - digits.count) + ".0" }
        let cut = digits.index(digits.startIndex, offsetBy: pointPos)
        return sign + digits[..<cut] + "." + digits[cut...]
    }
}

enum PythonString {
    /// `str.__repr__`: single quotes unless the text holds a single quote and no double quote.
    static func repr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += String(format: "\\x%02x", scalar.value)
                } else if (0x80..<0xa0).contains(scalar.value) {
                    out += String(format: "\\x%02x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }

    static let whitespace: Set<Unicode.Scalar> = [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}", "\u{1C}", "\u{1D}", "\u{1E}",
                                                   "\u{1F}", "\u{85}", "\u{A0}", "\u{2028}", "\u{2029}", "\u{3000}"]
    static func isSpace(_ s: Unicode.Scalar) -> Bool { whitespace.contains(s) || s.properties.isWhitespace }

    static func strip(_ s: String, _ chars: String?, leading: Bool, trailing: Bool) -> String {
        let scalars = Array(s.unicodeScalars)
        let set = chars.map { Set($0.unicodeScalars) }
        let drop: (Unicode.Scalar) -> Bool = { set?.contains($0) ?? isSpace($0) }
        var lo = 0, hi = scalars.count
        if leading { while lo < hi && drop(scalars[lo]) { lo += 1 } }
        if trailing { while hi > lo && drop(scalars[hi - 1]) { hi -= 1 } }
        return String(String.UnicodeScalarView(scalars[lo..<hi]))
    }

    /// `str.splitlines()`.
    static func splitlines(_ s: String, keepends: Bool = false) -> [String] {
        let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        let scalars = Array(s.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if breaks.contains(c.value) {
                var end = String.UnicodeScalarView([c])
                if c == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { end.append("\n"); i += 1 }
                if keepends { current.append(contentsOf: end) }
                lines.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(c)
            }
            i += 1
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    /// `str.split(sep, maxsplit)`.
    static func split(_ s: String, _ sep: String?, maxsplit: Int) throws -> [String] {
        if let sep {
            if sep.isEmpty { throw TemplateError.runtime("ValueError: empty separator") }
            var out: [String] = []
            var rest = Substring(s)
            while maxsplit < 0 || out.count < maxsplit, let r = rest.range(of: sep) {
                out.append(String(rest[..<r.lowerBound]))
                rest = rest[r.upperBound...]
            }
            out.append(String(rest))
            return out
        }
        var out: [String] = []
        var current = String.UnicodeScalarView()
        let scalars = Array(s.unicodeScalars)
        var i = 0
        while i < scalars.count {
            if isSpace(scalars[i]) {
                if !current.isEmpty { out.append(String(current)); current = String.UnicodeScalarView() }
                i += 1
                if maxsplit >= 0 && out.count >= maxsplit {
                    while i < scalars.count && isSpace(scalars[i]) { i += 1 }
                    if i < scalars.count {
                        let rest = strip(String(String.UnicodeScalarView(scalars[i...])), nil, leading: false, trailing: true)
                        out.append(rest)
                    }
                    return out
                }
            } else {
                current.append(scalars[i])
                i += 1
            }
        }
        if !current.isEmpty { out.append(String(current)) }
        return out
    }

    /// `str.title()`: a letter after a non-letter is upper-cased, others lower-cased.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for ch in s {
            let isLetter = ch.isLetter
            out += previousCased ? ch.lowercased() : ch.uppercased()
            previousCased = isLetter
        }
        return out
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.first else { return s }
        return first.uppercased() + s.dropFirst().lowercased()
    }
}
