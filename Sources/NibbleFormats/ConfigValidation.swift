import Foundation

// Every check on `config.json` and `generation_config.json` values, in one place. They run when the files are
// read, before any weight is touched, and each error names the field and the file.

extension ModelConfig {
    /// Largest size accepted for any dimension: far beyond any real model, small enough that products of two
    /// sizes cannot overflow.
    static let sizeCeiling = 1 << 24

    /// Checks the fields every family shares, on their own and against each other; a family checks what only
    /// it reads (rotary settings, head width, windows) when it decodes them.
    func validate(path: String) throws {
        func fail(_ reason: String) -> FormatError { .invalidConfig(path: path, reason: reason) }
        for (name, value) in [("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                              ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                              ("num_key_value_heads", numKeyValueHeads),
                              ("vocab_size", vocabSize), ("max_position_embeddings", maxPositionEmbeddings)] {
            if value <= 0 { throw fail("\(name) must be positive, got \(value)") }
            if value > Self.sizeCeiling && name != "max_position_embeddings" {
                throw fail("\(name) is \(value), beyond any supported model (at most \(Self.sizeCeiling))")
            }
        }
        let fields = try JSONFieldReader(json: json, path: path)
        if let headDim = try fields.optionalInt("head_dim") {
            if headDim <= 0 || headDim > Self.sizeCeiling { throw fail("head_dim must be positive, got \(headDim)") }
        } else if hiddenSize % numAttentionHeads != 0 {
            throw fail("hidden_size (\(hiddenSize)) is not a multiple of num_attention_heads (\(numAttentionHeads)); "
                       + "set head_dim if the heads are not hidden_size / num_attention_heads wide")
        }
        if numAttentionHeads % numKeyValueHeads != 0 {
            throw fail("num_attention_heads (\(numAttentionHeads)) is not a multiple of num_key_value_heads (\(numKeyValueHeads))")
        }
        if !(rmsNormEps.isFinite && rmsNormEps > 0) { throw fail("rms_norm_eps must be a positive finite number, got \(rmsNormEps)") }
        try TokenIdCheck.within(vocabSize, path: path, [("bos_token_id", bosTokenId.map { [$0] } ?? []),
                                                       ("eos_token_id", eosTokenIds)])
    }
}

extension GenerationConfig {
    /// Sampling defaults must be usable as they are: a bad default would fail every request that relies on it.
    func validate(path: String) throws {
        func fail(_ reason: String) -> FormatError { .invalidConfig(path: path, reason: reason) }
        if let temperature, !(temperature.isFinite && temperature >= 0) {
            throw fail("temperature must be a finite number ≥ 0, got \(temperature)")
        }
        if let topP, !(topP > 0 && topP <= 1) { throw fail("top_p must be in (0, 1], got \(topP)") }
        if let minP, !(minP >= 0 && minP <= 1) { throw fail("min_p must be in [0, 1], got \(minP)") }
        if let topK, topK < 0 { throw fail("top_k must be ≥ 0, got \(topK)") }
        if let repetitionPenalty, !(repetitionPenalty.isFinite && repetitionPenalty > 0) {
            throw fail("repetition_penalty must be a positive finite number, got \(repetitionPenalty)")
        }
        if let maxNewTokens, maxNewTokens <= 0 { throw fail("max_new_tokens must be positive, got \(maxNewTokens)") }
        try TokenIdCheck.within(Int.max, path: path, tokenIdFields)
    }

    /// Token ids must name rows of the model's embeddings.
    public func validateTokenIds(vocabularySize: Int, path: String = "generation_config.json") throws {
        try TokenIdCheck.within(vocabularySize, path: path, tokenIdFields)
    }

    private var tokenIdFields: [(String, [Int])] {
        // pad_token_id is not used (and old conversions set it to -1), so it is not checked.
        [("bos_token_id", bosTokenId.map { [$0] } ?? []), ("eos_token_id", eosTokenIds)]
    }
}

enum TokenIdCheck {
    static func within(_ vocabularySize: Int, path: String, _ fields: [(String, [Int])]) throws {
        for (name, ids) in fields {
            for id in ids where id < 0 || id >= vocabularySize {
                let bound = vocabularySize == Int.max ? "must not be negative" : "must be below vocab_size \(vocabularySize)"
                throw FormatError.invalidConfig(path: path, reason: "\(name) \(id) \(bound)")
            }
        }
    }

    /// `eos_token_id` as a single integer or a list of integers (anything else is an error naming the field).
    static func ids(_ root: [String: Any], _ key: String, reader: JSONFieldReader) throws -> [Int] {
        guard let list = root[key] as? [Any] else { return (try reader.optionalInt(key)).map { [$0] } ?? [] }
        return try list.enumerated().map { index, element in
            try JSONFieldReader(root: ["\(key)[\(index)]": element], path: reader.path).int("\(key)[\(index)]")
        }
    }
}
