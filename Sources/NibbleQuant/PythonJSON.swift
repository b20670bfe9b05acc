import Foundation

/// A JSON value that serializes exactly as Python's `json.dumps` writes it, so files other tools byte-compare
/// (the bitsandbytes quant_state blob, transformers' config.json) come out identical.
///
/// Objects keep insertion order (Python dicts do); floats print as Python's `repr`, ints without a fraction,
/// and non-ASCII text is escaped (`ensure_ascii=True`).
public indirect enum PythonJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case array([PythonJSON])
    case object([(String, PythonJSON)])

    public static func == (a: PythonJSON, b: PythonJSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x.bitPattern == y.bitPattern
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> PythonJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// `json.dumps(value)` (no indent: `", "` and `": "` separators), or with `indent` as
    /// `json.dumps(value, indent=indent)`; `sortKeys` as `sort_keys=True`.
    public func dumps(indent: Int? = nil, sortKeys: Bool = false) -> String {
        var out = ""
        write(into: &out, indent: indent, level: 0, sortKeys: sortKeys)
        return out
    }

    private func write(into out: inout String, indent: Int?, level: Int, sortKeys: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .float(let value): out += Self.repr(value)
        case .string(let value): out += Self.quoted(value)
        case .array(let items):
            writeContainer(into: &out, open: "[", close: "]", count: items.count, indent: indent, level: level) { i, out in
                items[i].write(into: &out, indent: indent, level: level + 1, sortKeys: sortKeys)
            }
        case .object(let members):
            // Python's sort_keys orders by code point, which is UTF-16 order for the BMP and byte order for ASCII.
            let ordered = sortKeys ? members.sorted { Array($0.0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.0.unicodeScalars.map(\.value)) } : members
            writeContainer(into: &out, open: "{", close: "}", count: ordered.count, indent: indent, level: level) { i, out in
                out += Self.quoted(ordered[i].0) + ": "
                ordered[i].1.write(into: &out, indent: indent, level: level + 1, sortKeys: sortKeys)
            }
        }
    }

    private func writeContainer(into out: inout String, open: String, close: String, count: Int, indent: Int?, level: Int,
                                item: (Int, inout String) -> Void) {
        out += open
        guard count > 0 else { out += close; return }
        if let indent {
            let inner = "\n" + String(repeating: " ", count: indent * (level + 1))
            for i in 0..<count {
                out += (i == 0 ? "" : ",") + inner
                item(i, &out)
            }
            out += "\n" + String(repeating: " ", count: indent * level)
        } else {
            for i in 0..<count {
                if i > 0 { out += ", " }
                item(i, &out)
            }
        }
        out += close
    }

    /// Python's `repr(float)`: the shortest round-trip digits, positional when the decimal exponent is in
    /// [-4, 16), else scientific with a signed two-digit exponent.
    public static func repr(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        let sign = value.sign == .minus ? "-" : ""
        // Swift's description also yields the shortest round-trip digits; only the layout is Python's own.
        var text = abs(value).description
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...])!
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let integerPart = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(integerPart + fraction)
        var point = integerPart.count + exponent  // value = 0.digits × 10^point
        while let first = digits.first, first == "0" { digits.removeFirst(); point -= 1 }
        while let last = digits.last, last == "0" { digits.removeLast() }
        if digits.isEmpty { return sign + "0.0" }
        let d = String(digits)
        if point > 16 || point <= -4 {
            let mantissa = d.count == 1 ? d : String(d.prefix(1)) + "." + String(d.dropFirst())
            let e = point - 1
            let magnitude = abs(e) < 10 ? "0\(abs(e))" : "\(abs(e))"
            return sign + mantissa + "e" + (e < 0 ? "-" : "+") + magnitude
        }
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + d }
        if point >= d.count { return sign + d + String(repeating: "0", count: point - d.count) + ".0" }
        return sign + String(d.prefix(point)) + "." + String(d.dropFirst(point))
    }

    /// A string literal as Python writes it with `ensure_ascii=True`.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for unit in text.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(unit)!)
            default: out += String(format: "\\u%04x", unit)
            }
        }
        return out + "\""
    }
}

extension PythonJSON {
    /// Converts a `JSONSerialization` value, keeping ints and floats apart as the source text had them
    /// (`10000.0` stays a float). Object members are taken in sorted order: Foundation does not keep file order.
    public init(foundation value: Any) throws {
        switch value {
        case is NSNull: self = .null
        case let string as String: self = .string(string)
        case let number as NSNumber:
            let type = String(cString: number.objCType)
            if type == "c" || type == "B" {
                self = .bool(number.boolValue)
            } else if type == "d" || type == "f" {
                self = .float(number.doubleValue)
            } else {
                self = .int(number.intValue)
            }
        case let array as [Any]: self = .array(try array.map { try PythonJSON(foundation: $0) })
        case let object as [String: Any]:
            self = .object(try object.keys.sorted().map { ($0, try PythonJSON(foundation: object[$0]!)) })
        default:
            throw QuantizationError.invalidField(field: "(json)", message: "unsupported JSON value \(type(of: value))")
        }
    }
}
