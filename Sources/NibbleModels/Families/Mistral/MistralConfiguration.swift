import NibbleFormats

/// config.json of `MistralForCausalLM` (`model_type` "mistral").
public struct MistralConfiguration: FamilyConfiguration {
    public let base: ModelConfig
    /// `head_dim`, else hidden / heads.
    public let headDim: Int
    public let rope: RopeParameters
    /// `sliding_window`: each position attends to itself and the `slidingWindow - 1` before it, in every layer
    /// (nil: full causal attention).
    public let slidingWindow: Int?

    public init(config: ModelConfig, fields: JSONFieldReader) throws {
        try fields.requireSiLU()
        base = config
        headDim = try fields.optionalInt("head_dim") ?? config.hiddenSize / config.numAttentionHeads
        rope = try RopeParameters(fields: fields)
        slidingWindow = try DecoderArchitecture.slidingWindow(fields)
    }
}
