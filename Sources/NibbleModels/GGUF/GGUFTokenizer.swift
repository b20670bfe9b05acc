import Foundation
import NibbleFormats
import NibbleTokenizer

/// The tokenizer a GGUF file carries in its `tokenizer.ggml.*` metadata, built as the same model objects
/// tokenizer.json / tokenizer.model produce: `llama` → a SentencePiece BPE model (scores, piece types, byte
/// fallback); `gpt2` → a byte-level BPE tokenizer with the file's merges and the pre-tokenizer `tokenizer.ggml.pre`
/// names. Control and user-defined tokens are split out of text before BPE, control ones are special.
enum GGUFTokenizer {
    /// `tokenizer.ggml.pre` values understood.
    static let preTokenizerNames = ["default", "gpt-2", "gpt2", "smollm"]

    /// The tokenizer.json pre-tokenizers a `tokenizer.ggml.pre` value stands for.
    ///
    /// All of these are GPT-2's byte-level regex, as transformers' GGUF loader builds them. For `smollm` llama.cpp
    /// (and SmolLM's own tokenizer.json) also isolate every `\p{N}` character first; SmolLM's vocabulary has no
    /// multi-digit tokens, so the two differ only where a space merges with a numeric character (" ½"), and
    /// Nibble follows transformers, the reference its tests compare with.
    static func preTokenizers(named name: String) -> [[String: Any]]? {
        guard preTokenizerNames.contains(name) else { return nil }
        return [["type": "ByteLevel", "add_prefix_space": false, "use_regex": true, "trim_offsets": false]]
    }

    /// The special-token strings named by the metadata ids.
    struct SpecialTokens: Sendable {
        var bos: String?
        var eos: String?
        var unk: String?
        var pad: String?
    }

    /// Builds the tokenizer; unknown models and pre-tokenizers are errors naming the key.
    static func load(_ gguf: GGUFFile) throws -> (any Tokenizer, SpecialTokens) {
        let path = gguf.path
        func fail(_ key: String, _ reason: String) -> GGUFError { .invalidMetadata(path: path, key: key, reason: reason) }
        guard let modelName = try gguf.string("tokenizer.ggml.model") else {
            throw fail("tokenizer.ggml.model", "missing: the file carries no tokenizer")
        }
        guard let tokens = try gguf.strings("tokenizer.ggml.tokens"), !tokens.isEmpty else {
            throw fail("tokenizer.ggml.tokens", "missing or empty")
        }
        let types = try gguf.ints("tokenizer.ggml.token_type")
        if let types, types.count != tokens.count {
            throw fail("tokenizer.ggml.token_type", "has \(types.count) entries for \(tokens.count) tokens")
        }
        func tokenId(_ key: String) throws -> Int? {
            guard let id = try gguf.int(key) else { return nil }
            guard tokens.indices.contains(id) else { throw fail(key, "id \(id) is outside the \(tokens.count) tokens") }
            return id
        }
        let bos = try tokenId("tokenizer.ggml.bos_token_id"), eos = try tokenId("tokenizer.ggml.eos_token_id")
        let unk = try tokenId("tokenizer.ggml.unknown_token_id"), pad = try tokenId("tokenizer.ggml.padding_token_id")
        let specials = SpecialTokens(bos: bos.map { tokens[$0] }, eos: eos.map { tokens[$0] },
                                     unk: unk.map { tokens[$0] }, pad: pad.map { tokens[$0] })
        let addBos = try gguf.bool("tokenizer.ggml.add_bos_token")
        let addEos = try gguf.bool("tokenizer.ggml.add_eos_token")
        let config = TokenizerConfig(addBosToken: addBos, addEosToken: addEos, bosToken: specials.bos,
                                     eosToken: specials.eos, unkToken: specials.unk, padToken: specials.pad)
        switch modelName {
        case "llama":
            return (try sentencePiece(gguf, tokens: tokens, types: types, ids: (bos, eos, unk, pad), config: config), specials)
        case "gpt2":
            return (try byteLevelBPE(gguf, tokens: tokens, types: types, config: config), specials)
        default:
            throw GGUFError.unsupported(path: path, reason: "tokenizer.ggml.model '\(modelName)' is not supported (llama, gpt2)")
        }
    }

    private static func sentencePiece(_ gguf: GGUFFile, tokens: [String], types: [Int]?,
                                      ids: (bos: Int?, eos: Int?, unk: Int?, pad: Int?),
                                      config: TokenizerConfig) throws -> SentencePieceTokenizer {
        let scores = try gguf.doubles("tokenizer.ggml.scores")
        if let scores, scores.count != tokens.count {
            throw GGUFError.invalidMetadata(path: gguf.path, key: "tokenizer.ggml.scores",
                                            reason: "has \(scores.count) entries for \(tokens.count) tokens")
        }
        var model = SentencePieceModel()
        model.modelType = .bpe
        model.pieces = tokens.indices.map { i in
            // GGUF token types are SentencePiece's piece types; 0 (undefined) is an ordinary piece.
            let type = types.flatMap { SentencePieceModel.PieceType(rawValue: $0[i]) } ?? .normal
            return SentencePieceModel.Piece(piece: tokens[i], score: Float(scores?[i] ?? 0), type: type)
        }
        model.byteFallback = model.pieces.contains { $0.type == .byte }
        model.unkId = ids.unk ?? 0
        model.bosId = ids.bos ?? -1
        model.eosId = ids.eos ?? -1
        model.padId = ids.pad ?? -1
        model.addDummyPrefix = try gguf.bool("tokenizer.ggml.add_space_prefix") ?? true
        model.removeExtraWhitespaces = try gguf.bool("tokenizer.ggml.remove_extra_whitespaces") ?? false
        return try SentencePieceTokenizer(model: model, config: config, file: gguf.path)
    }

    private static func byteLevelBPE(_ gguf: GGUFFile, tokens: [String], types: [Int]?,
                                     config: TokenizerConfig) throws -> HFTokenizer {
        let preName = try gguf.string("tokenizer.ggml.pre") ?? "default"
        guard let pre = preTokenizers(named: preName) else {
            throw GGUFError.unsupported(path: gguf.path, reason: "tokenizer.ggml.pre '\(preName)' is not supported "
                                        + "(\(preTokenizerNames.joined(separator: ", ")))")
        }
        guard let merges = try gguf.strings("tokenizer.ggml.merges") else {
            throw GGUFError.invalidMetadata(path: gguf.path, key: "tokenizer.ggml.merges", reason: "missing (a gpt2 tokenizer needs its merges)")
        }
        for (i, merge) in merges.enumerated() where merge.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).count != 2 {
            throw GGUFError.invalidMetadata(path: gguf.path, key: "tokenizer.ggml.merges", reason: "entry \(i) '\(merge)' is not 'a b'")
        }
        var vocab: [String: Int] = [:]
        for (id, token) in tokens.enumerated() { vocab[token] = id }
        // Control (3) and user-defined (4) tokens are matched on the raw text, as llama.cpp does.
        var added: [[String: Any]] = []
        for (id, type) in (types ?? []).enumerated() where type == 3 || type == 4 {
            added.append(["id": id, "content": tokens[id], "special": type == 3, "normalized": false,
                          "lstrip": false, "rstrip": false, "single_word": false])
        }
        let json: [String: Any] = [
            "model": ["type": "BPE", "vocab": vocab, "merges": merges, "byte_fallback": false],
            "added_tokens": added,
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": pre],
            "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true],
        ]
        let data = try JSONSerialization.data(withJSONObject: json)
        return try HFTokenizer(tokenizerJSON: data, config: config, file: gguf.path)
    }
}
