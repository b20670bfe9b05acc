import Foundation

/// tokenizer.json `pre_tokenizer`: splits a normalized segment into words that BPE encodes independently.
indirect enum PreTokenizer: Sendable {
    /// How Metaspace adds the leading "▁".
    enum PrependScheme: Sendable { case always, first, never }

    case sequence([PreTokenizer])
    case metaspace(replacement: String, prependScheme: PrependScheme, split: Bool)
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(NSRegularExpressionBox, RegexSplit.Behavior)

    /// Parses a pre-tokenizer; `nil`/`null` means the whole segment is one word.
    static func parse(_ json: JSONValue?, file: String) throws -> PreTokenizer? {
        guard let json, !json.isNull else { return nil }
        guard let type = json.typeName else {
            throw TokenizerError.invalidJSON(file, reason: "pre_tokenizer without type")
        }
        switch type {
        case "Sequence":
            let items = json["pretokenizers"]?.array ?? []
            return .sequence(try items.compactMap { try parse($0, file: file) })
        case "Metaspace":
            let replacement = json["replacement"]?.string ?? "\u{2581}"
            let scheme: PrependScheme
            switch json["prepend_scheme"]?.string {
            case "first": scheme = .first
            case "never": scheme = .never
            case "always": scheme = .always
            default:
                // Older files only have `add_prefix_space`.
                scheme = (json["add_prefix_space"]?.bool ?? true) ? .always : .never
            }
            return .metaspace(replacement: replacement, prependScheme: scheme, split: json["split"]?.bool ?? true)
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: json["add_prefix_space"]?.bool ?? true,
                              useRegex: json["use_regex"]?.bool ?? true)
        case "Split":
            guard json["invert"]?.bool != true else {
                throw TokenizerError.unsupportedComponent(file, component: "pre_tokenizer", type: "Split(invert)")
            }
            let behaviorName = json["behavior"]?.string ?? "Isolated"
            guard let behavior = RegexSplit.Behavior(rawValue: behaviorName) else {
                throw TokenizerError.unsupportedComponent(file, component: "pre_tokenizer", type: "Split(\(behaviorName))")
            }
            let source: String
            if let literal = json["pattern"]?["String"]?.string {
                source = NSRegularExpression.escapedPattern(for: literal)
            } else if let regex = json["pattern"]?["Regex"]?.string {
                source = regex
            } else {
                throw TokenizerError.invalidJSON(file, reason: "Split pre-tokenizer has no String/Regex pattern")
            }
            do {
                return .split(NSRegularExpressionBox(try NSRegularExpression(pattern: source)), behavior)
            } catch {
                throw TokenizerError.unsupportedComponent(file, component: "pre_tokenizer", type: "Split regex \(source)")
            }
        default:
            throw TokenizerError.unsupportedComponent(file, component: "pre_tokenizer", type: type)
        }
    }

    /// Splits `words`; `isFirstSegment` is true when the segment starts at the beginning of the input text
    /// (Metaspace `prepend_scheme: first` only prefixes that one).
    func split(_ words: [String], isFirstSegment: Bool) -> [String] {
        switch self {
        case .sequence(let items):
            return items.reduce(words) { $1.split($0, isFirstSegment: isFirstSegment) }
        case .metaspace(let replacement, let scheme, let split):
            var out: [String] = []
            for (index, word) in words.enumerated() {
                var text = word.replacingScalars(" ", with: replacement)
                let prepend: Bool
                switch scheme {
                case .always: prepend = true
                case .first: prepend = isFirstSegment && index == 0
                case .never: prepend = false
                }
                if prepend && !text.isEmpty && !text.unicodeScalars.starts(with: replacement.unicodeScalars) { text = replacement + text }
                if split {
                    out.append(contentsOf: Self.splitKeepingDelimiterWithNext(text, delimiter: replacement))
                } else if !text.isEmpty {
                    out.append(text)
                }
            }
            return out
        case .byteLevel(let addPrefixSpace, let useRegex):
            var out: [String] = []
            for word in words {
                var text = word
                if addPrefixSpace && !text.isEmpty && text.unicodeScalars.first != " " { text = " " + text }
                let parts = useRegex
                    ? RegexSplit.split(text, regex: ByteLevel.gpt2Regex.regex, behavior: .isolated) : [text]
                out.append(contentsOf: parts.map(ByteLevel.encode))
            }
            return out
        case .split(let box, let behavior):
            return words.flatMap { RegexSplit.split($0, regex: box.regex, behavior: behavior) }
        }
    }

    /// "a▁▁b" → ["a", "▁", "▁b"]: each delimiter starts a new word.
    static func splitKeepingDelimiterWithNext(_ text: String, delimiter: String) -> [String] {
        guard let delimiterScalar = delimiter.unicodeScalars.first, delimiter.unicodeScalars.count == 1 else {
            return text.isEmpty ? [] : [text]
        }
        var out: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == delimiterScalar && !current.isEmpty {
                out.append(String(current))
                current = String.UnicodeScalarView()
            }
            current.append(scalar)
        }
        if !current.isEmpty { out.append(String(current)) }
        return out
    }
}
