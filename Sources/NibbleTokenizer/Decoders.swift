import Foundation

/// tokenizer.json `decoder`: turns the token strings of a sequence back into text.
///
/// Like the reference library, each step maps a list of token strings to a list of strings, so steps such as
/// `Strip` act per token and only act on the whole text after a `Fuse`.
indirect enum TokenDecoder: Sendable {
    case sequence([TokenDecoder])
    case replace(TextPattern, String)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case metaspace(replacement: String, stripFirstSpace: Bool)
    case byteLevel

    static func parse(_ json: JSONValue?, file: String) throws -> TokenDecoder? {
        guard let json, !json.isNull else { return nil }
        guard let type = json.typeName else {
            throw TokenizerError.invalidJSON(file, reason: "decoder without type")
        }
        switch type {
        case "Sequence":
            let items = json["decoders"]?.array ?? []
            return .sequence(try items.compactMap { try parse($0, file: file) })
        case "Replace":
            let pattern = try TextPattern.parse(json["pattern"], file: file, component: "decoder")
            return .replace(pattern, json["content"]?.string ?? "")
        case "ByteFallback":
            return .byteFallback
        case "Fuse":
            return .fuse
        case "Strip":
            guard let content = json["content"]?.string, content.unicodeScalars.count == 1,
                  let c = content.unicodeScalars.first else {
                throw TokenizerError.invalidJSON(file, reason: "Strip decoder content must be one character")
            }
            return .strip(content: c, start: json["start"]?.int ?? 0, stop: json["stop"]?.int ?? 0)
        case "Metaspace":
            let replacement = json["replacement"]?.string ?? "\u{2581}"
            let strip: Bool
            if let scheme = json["prepend_scheme"]?.string {
                strip = scheme != "never"
            } else {
                strip = json["add_prefix_space"]?.bool ?? true
            }
            return .metaspace(replacement: replacement, stripFirstSpace: strip)
        case "ByteLevel":
            return .byteLevel
        default:
            throw TokenizerError.unsupportedComponent(file, component: "decoder", type: type)
        }
    }

    func decode(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let items):
            return items.reduce(tokens) { $1.decode($0) }
        case .replace(let pattern, let content):
            return tokens.map { pattern.replacingOccurrences(in: $0, with: content) }
        case .byteFallback:
            return Self.decodeByteFallback(tokens)
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                // Scalars, not Characters: a combining mark after the space must not protect it.
                var scalars = Substring(token).unicodeScalars[...]
                var removed = 0
                while removed < start, scalars.first == content { scalars.removeFirst(); removed += 1 }
                removed = 0
                while removed < stop, scalars.last == content { scalars.removeLast(); removed += 1 }
                return String(scalars)
            }
        case .metaspace(let replacement, let stripFirstSpace):
            return tokens.enumerated().map { index, token in
                let text = token.replacingScalars(replacement, with: " ")
                if stripFirstSpace && index == 0 && text.unicodeScalars.first == " " {
                    return String(text.unicodeScalars.dropFirst())
                }
                return text
            }
        case .byteLevel:
            return [ByteLevel.decode(tokens)]
        }
    }

    /// Runs of `<0xNN>` tokens become their UTF-8 text; an invalid run becomes one U+FFFD per byte,
    /// as the reference library does.
    static func decodeByteFallback(_ tokens: [String]) -> [String] {
        var out: [String] = []
        out.reserveCapacity(tokens.count)
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let text = String(validating: pending, as: UTF8.self) {
                out.append(text)
            } else {
                out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
            }
            pending.removeAll(keepingCapacity: true)
        }
        for token in tokens {
            if let byte = ByteTokens.value(token) {
                pending.append(byte)
            } else {
                flush()
                out.append(token)
            }
        }
        flush()
        return out
    }
}
