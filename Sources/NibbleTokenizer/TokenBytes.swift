/// The bytes a token contributes to the text in the middle of a sequence, for byte-level consumers such as
/// grammar-constrained decoding, which must know exactly what each candidate token would append.
///
/// Unlike `decode`, nothing depends on the token's neighbours: a SentencePiece `▁` is always a space (the first
/// token's stripped space is a display rule, not a byte the model chose) and a byte-fallback piece is its byte.
/// Special and control tokens have no bytes (nil): they are not text.
extension Tokenizer {
    /// The bytes of token `id`, or nil for special/control tokens and ids outside the vocabulary.
    public func tokenBytes(_ id: Int) -> [UInt8]? {
        if isSpecial(id) { return nil }
        if let hf = self as? HFTokenizer { return hf.pieceBytes(id) }
        if let sp = self as? SentencePieceTokenizer { return sp.pieceBytes(id) }
        guard id >= 0, id < vocabularySize else { return nil }
        return Array(decode([id], skipSpecialTokens: false).utf8)
    }
}

extension HFTokenizer {
    func pieceBytes(_ id: Int) -> [UInt8]? {
        guard let token = tokenString(for: id) else { return nil }
        guard let decoder else { return Array(token.utf8) }
        return decoder.pieceBytes(token)
    }
}

extension SentencePieceTokenizer {
    func pieceBytes(_ id: Int) -> [UInt8]? {
        guard model.pieces.indices.contains(id) else { return nil }
        let piece = model.pieces[id]
        switch piece.type {
        case .control, .unknown, .unused: return nil
        case .byte: return ByteTokens.value(piece.piece).map { [$0] }
        case .normal, .userDefined: return Array(piece.piece.replacingScalars("\u{2581}", with: " ").utf8)
        }
    }
}

extension TokenDecoder {
    /// One token's bytes through this decoder chain, leaving out steps that only act at the ends of the text.
    func pieceBytes(_ token: String) -> [UInt8] {
        if containsByteLevel {
            var bytes: [UInt8] = []
            for scalar in token.unicodeScalars {
                // A token outside the byte table (an added token) is its own UTF-8, as `decode` has it.
                guard let byte = ByteLevel.scalarToByte[scalar] else { return Array(token.utf8) }
                bytes.append(byte)
            }
            return bytes
        }
        if containsByteFallback, let byte = ByteTokens.value(token) { return [byte] }
        return Array(pieceText(token).utf8)
    }

    private var containsByteLevel: Bool {
        switch self {
        case .byteLevel: return true
        case .sequence(let items): return items.contains { $0.containsByteLevel }
        default: return false
        }
    }

    private var containsByteFallback: Bool {
        switch self {
        case .byteFallback: return true
        case .sequence(let items): return items.contains { $0.containsByteFallback }
        default: return false
        }
    }

    private func pieceText(_ token: String) -> String {
        switch self {
        case .sequence(let items): return items.reduce(token) { $1.pieceText($0) }
        case .replace(let pattern, let content): return pattern.replacingOccurrences(in: token, with: content)
        case .metaspace(let replacement, _): return token.replacingScalars(replacement, with: " ")
        case .byteFallback, .fuse, .strip, .byteLevel: return token
        }
    }
}
