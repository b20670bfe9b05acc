import NibbleFormats

/// config.json of `Qwen3ForCausalLM` (`model_type` "qwen3").
public struct Qwen3Configuration: FamilyConfiguration {
    public let base: ModelConfig
    /// `head_dim`, required: Qwen3 heads are not hidden / heads wide in general.
    public let headDim: Int
    public let rope: RopeParameters
    /// `attention_bias`: a bias on q, k, v and o.
    public let attentionBias: Bool
    /// Sliding window of each layer, by the rule Qwen2 configs use.
    public let windows: [Int?]

    public init(config: ModelConfig, fields: JSONFieldReader) throws {
        try fields.requireSiLU()
        base = config
        headDim = try fields.required("head_dim", family: "qwen3")
        rope = try RopeParameters(fields: fields)
        attentionBias = try fields.optionalBool("attention_bias") ?? false
        windows = try DecoderArchitecture.layerWindows(config: config, fields: fields)
    }
}
