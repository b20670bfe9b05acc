/// One entry of tokenizer.json `added_tokens`.
struct AddedToken: Sendable, Decodable {
    var id: Int
    var content: String
    var singleWord: Bool = false
    var lstrip: Bool = false
    var rstrip: Bool = false
    var normalized: Bool = true
    var special: Bool = false

    enum CodingKeys: String, CodingKey {
        case id, content, lstrip, rstrip, normalized, special
        case singleWord = "single_word"
    }

    init(id: Int, content: String, special: Bool) {
        self.id = id
        self.content = content
        self.special = special
        self.normalized = !special
    }

    init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(Int.self, forKey: .id)
        content = try c.decode(String.self, forKey: .content)
        singleWord = try c.decodeIfPresent(Bool.self, forKey: .singleWord) ?? false
        lstrip = try c.decodeIfPresent(Bool.self, forKey: .lstrip) ?? false
        rstrip = try c.decodeIfPresent(Bool.self, forKey: .rstrip) ?? false
        special = try c.decodeIfPresent(Bool.self, forKey: .special) ?? false
        normalized = try c.decodeIfPresent(Bool.self, forKey: .normalized) ?? !special
    }
}

/// A piece of input text after added tokens have been split out.
enum TextSegment: Equatable {
    /// Ordinary text; `atStart` is true when it begins at offset 0 of the original input.
    case text(String, atStart: Bool)
    case token(Int)
}

/// Finds added tokens in text, leftmost match first and longest among those starting at the same place
/// (the reference library uses a leftmost-longest automaton).
struct AddedTokenMatcher: Sendable {
    private struct Entry: Sendable {
        var bytes: [UInt8]
        var token: AddedToken
    }

    /// Candidates by first byte, longest first.
    private let byFirstByte: [UInt8: [Entry]]

    var isEmpty: Bool { byFirstByte.isEmpty }

    /// `contents` lets the caller match a token by a different spelling (its normalized form).
    init(_ tokens: [AddedToken], contents: (AddedToken) -> String = { $0.content }) {
        var table: [UInt8: [Entry]] = [:]
        for token in tokens {
            let bytes = Array(contents(token).utf8)
            guard let first = bytes.first else { continue }
            table[first, default: []].append(Entry(bytes: bytes, token: token))
        }
        for key in table.keys { table[key]!.sort { $0.bytes.count > $1.bytes.count } }
        byFirstByte = table
    }

    /// Splits `text`; text segments keep `atStart` only if they begin where the whole input begins.
    func split(_ text: String, atStart: Bool) -> [TextSegment] {
        guard !byFirstByte.isEmpty, !text.isEmpty else { return text.isEmpty ? [] : [.text(text, atStart: atStart)] }
        let bytes = Array(text.utf8)
        var segments: [TextSegment] = []
        var segmentStart = 0
        var i = 0
        while i < bytes.count {
            guard let candidates = byFirstByte[bytes[i]],
                  let match = candidates.first(where: { matches($0, in: bytes, at: i) }) else {
                i += 1
                continue
            }
            var start = i
            var end = i + match.bytes.count
            if match.token.lstrip {
                while start > segmentStart, isWhitespace(bytes[start - 1]) { start -= 1 }
            }
            if match.token.rstrip {
                while end < bytes.count, isWhitespace(bytes[end]) { end += 1 }
            }
            if start > segmentStart {
                segments.append(.text(decode(bytes[segmentStart..<start]), atStart: atStart && segmentStart == 0))
            }
            segments.append(.token(match.token.id))
            segmentStart = end
            i = end
        }
        if segmentStart < bytes.count {
            segments.append(.text(decode(bytes[segmentStart...]), atStart: atStart && segmentStart == 0))
        }
        return segments
    }

    private func matches(_ entry: Entry, in bytes: [UInt8], at i: Int) -> Bool {
        let end = i + entry.bytes.count
        guard end <= bytes.count else { return false }
        for k in 0..<entry.bytes.count where bytes[i + k] != entry.bytes[k] { return false }
        if entry.token.singleWord {
            if i > 0, isWordByte(bytes[i - 1]) { return false }
            if end < bytes.count, isWordByte(bytes[end]) { return false }
        }
        // A match must not cut a multi-byte character in half.
        if end < bytes.count, bytes[end] & 0xC0 == 0x80 { return false }
        return true
    }

    private func decode(_ slice: ArraySlice<UInt8>) -> String { String(decoding: slice, as: UTF8.self) }

    private func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// Word characters for `single_word`; bytes ≥ 0x80 count as word characters (letters of other scripts).
    private func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b >= 0x80
    }
}
