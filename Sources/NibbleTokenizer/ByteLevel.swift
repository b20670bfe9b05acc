import Foundation

/// GPT-2 style byte-level encoding: every byte is shown as a printable character so that BPE can work on
/// arbitrary bytes with a string vocabulary ("Ġ" is the space byte).
enum ByteLevel {
    /// Byte → character, the fixed table the tokenizers library and GPT-2 use.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    static let scalarToByte: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (b, scalar) in byteToScalar.enumerated() { map[scalar] = UInt8(b) }
        return map
    }()

    /// The GPT-2 word-splitting pattern used when `use_regex` is on.
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    static let gpt2Regex: NSRegularExpressionBox = {
        // The pattern is a compile-time constant known to be valid.
        NSRegularExpressionBox(try! NSRegularExpression(pattern: gpt2Pattern))
    }()

    /// Maps text to its byte-level spelling.
    static func encode(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for byte in text.utf8 { out.append(byteToScalar[Int(byte)]) }
        return String(out)
    }

    /// Joins tokens and maps them back to bytes. A token with characters outside the table (an added token such
    /// as "<|endoftext|>") contributes its own UTF-8, as the reference decoder does. Invalid UTF-8 is replaced.
    static func decode(_ tokens: [String]) -> String {
        var bytes: [UInt8] = []
        for token in tokens {
            var tokenBytes: [UInt8] = []
            var mapped = true
            for scalar in token.unicodeScalars {
                guard let byte = scalarToByte[scalar] else {
                    mapped = false
                    break
                }
                tokenBytes.append(byte)
            }
            bytes += mapped ? tokenBytes : Array(token.utf8)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Splits text by a regular expression the way the tokenizers library's `Split` pre-tokenizer does.
enum RegexSplit {
    /// What happens to the matched parts.
    enum Behavior: String, Sendable {
        case isolated = "Isolated"
        case removed = "Removed"
        case mergedWithPrevious = "MergedWithPrevious"
        case mergedWithNext = "MergedWithNext"
        case contiguous = "Contiguous"
    }

    static func split(_ text: String, regex: NSRegularExpression, behavior: Behavior) -> [String] {
        let ns = text as NSString
        let matches = regex.matches(in: text, range: NSRange(location: 0, length: ns.length))
        // (range, isMatch) pieces covering the whole text.
        var pieces: [(NSRange, Bool)] = []
        var cursor = 0
        for match in matches where match.range.length > 0 {
            if match.range.location > cursor {
                pieces.append((NSRange(location: cursor, length: match.range.location - cursor), false))
            }
            pieces.append((match.range, true))
            cursor = match.range.location + match.range.length
        }
        if cursor < ns.length { pieces.append((NSRange(location: cursor, length: ns.length - cursor), false)) }

        var out: [String] = []
        var carry = ""  // for MergedWithNext
        for (index, (range, isMatch)) in pieces.enumerated() {
            let piece = ns.substring(with: range)
            switch behavior {
            case .isolated:
                out.append(piece)
            case .removed:
                if !isMatch { out.append(piece) }
            case .mergedWithPrevious:
                if isMatch, index > 0, !out.isEmpty { out[out.count - 1] += piece } else { out.append(piece) }
            case .mergedWithNext:
                if isMatch {
                    carry += piece
                } else {
                    out.append(carry + piece)
                    carry = ""
                }
            case .contiguous:
                if index > 0, pieces[index - 1].1 == isMatch, isMatch, !out.isEmpty {
                    out[out.count - 1] += piece
                } else {
                    out.append(piece)
                }
            }
        }
        if !carry.isEmpty { out.append(carry) }
        return out.filter { !$0.isEmpty }
    }
}
