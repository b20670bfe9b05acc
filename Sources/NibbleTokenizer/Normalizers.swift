import Foundation

/// A text pattern as tokenizer.json spells it: `{"String": "…"}` or `{"Regex": "…"}`.
enum TextPattern: Sendable {
    case literal(String)
    case regex(NSRegularExpressionBox)

    static func parse(_ json: JSONValue?, file: String, component: String) throws -> TextPattern {
        if let literal = json?["String"]?.string { return .literal(literal) }
        if let regex = json?["Regex"]?.string {
            do {
                return .regex(NSRegularExpressionBox(try NSRegularExpression(pattern: regex)))
            } catch {
                throw TokenizerError.unsupportedComponent(file, component: component, type: "Regex \(regex)")
            }
        }
        throw TokenizerError.invalidJSON(file, reason: "\(component) Replace has no String/Regex pattern")
    }

    func replacingOccurrences(in text: String, with content: String) -> String {
        switch self {
        case .literal(let pattern):
            return text.replacingScalars(pattern, with: content)
        case .regex(let box):
            let range = NSRange(text.startIndex..., in: text)
            return box.regex.stringByReplacingMatches(
                in: text, range: range, withTemplate: NSRegularExpression.escapedTemplate(for: content))
        }
    }
}

/// `NSRegularExpression` is immutable and documented thread-safe, but not marked `Sendable` everywhere.
struct NSRegularExpressionBox: @unchecked Sendable {
    let regex: NSRegularExpression
    init(_ regex: NSRegularExpression) { self.regex = regex }
}

/// tokenizer.json `normalizer`: rewrites each text segment before pre-tokenization.
indirect enum Normalizer: Sendable {
    case sequence([Normalizer])
    case prepend(String)
    case replace(TextPattern, String)
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case strip(left: Bool, right: Bool)

    /// Parses a normalizer; `nil`/`null` means none.
    static func parse(_ json: JSONValue?, file: String) throws -> Normalizer? {
        guard let json, !json.isNull else { return nil }
        guard let type = json.typeName else {
            throw TokenizerError.invalidJSON(file, reason: "normalizer without type")
        }
        switch type {
        case "Sequence":
            let items = json["normalizers"]?.array ?? []
            return .sequence(try items.compactMap { try parse($0, file: file) })
        case "Prepend":
            return .prepend(json["prepend"]?.string ?? "")
        case "Replace":
            let pattern = try TextPattern.parse(json["pattern"], file: file, component: "normalizer")
            return .replace(pattern, json["content"]?.string ?? "")
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Strip":
            return .strip(left: json["strip_left"]?.bool ?? true, right: json["strip_right"]?.bool ?? true)
        default:
            throw TokenizerError.unsupportedComponent(file, component: "normalizer", type: type)
        }
    }

    func normalize(_ text: String) -> String {
        switch self {
        case .sequence(let items):
            return items.reduce(text) { $1.normalize($0) }
        case .prepend(let prefix):
            // The reference implementation leaves empty segments empty.
            return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content):
            return pattern.replacingOccurrences(in: text, with: content)
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase: return text.lowercased()
        case .strip(let left, let right):
            var scalars = Substring(text).unicodeScalars[...]
            if left { while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() } }
            if right { while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() } }
            return String(scalars)
        }
    }
}
