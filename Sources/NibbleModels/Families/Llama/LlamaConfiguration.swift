import NibbleFormats

/// config.json of `LlamaForCausalLM` (`model_type` "llama").
public struct LlamaConfiguration: FamilyConfiguration {
    public let base: ModelConfig
    /// `head_dim`, else hidden / heads.
    public let headDim: Int
    public let rope: RopeParameters
    /// `attention_bias`: a bias on q, k, v and o.
    public let attentionBias: Bool
    /// `mlp_bias`: a bias on gate, up and down.
    public let mlpBias: Bool

    public init(config: ModelConfig, fields: JSONFieldReader) throws {
        try fields.requireSiLU()
        base = config
        headDim = try fields.optionalInt("head_dim") ?? config.hiddenSize / config.numAttentionHeads
        rope = try RopeParameters(fields: fields)
        attentionBias = try fields.optionalBool("attention_bias") ?? false
        mlpBias = try fields.optionalBool("mlp_bias") ?? false
    }
}
