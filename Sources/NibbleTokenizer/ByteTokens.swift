/// Byte-fallback pieces are spelled `<0xNN>` (two upper-case hex digits) in both HF and SentencePiece vocabularies.
enum ByteTokens {
    /// The vocabulary spelling of a byte.
    static func name(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return byte < 16 ? "<0x0\(hex)>" : "<0x\(hex)>"
    }

    /// The byte a `<0xNN>` token stands for, or nil for any other token.
    static func value(_ token: String) -> UInt8? {
        let utf8 = token.utf8
        guard utf8.count == 6 else { return nil }
        let b = Array(utf8)
        guard b[0] == UInt8(ascii: "<"), b[1] == UInt8(ascii: "0"), b[2] == UInt8(ascii: "x"),
              b[5] == UInt8(ascii: ">"), let hi = hexDigit(b[3]), let lo = hexDigit(b[4]) else { return nil }
        return hi << 4 | lo
    }

    private static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Whether `bytes` is well-formed UTF-8 (so a pending byte-fallback run can be rendered as is).
func isValidUTF8(_ bytes: [UInt8]) -> Bool {
    String(validating: bytes, as: UTF8.self) != nil
}
