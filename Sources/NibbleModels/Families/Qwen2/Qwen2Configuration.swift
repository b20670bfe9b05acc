import NibbleFormats

/// config.json of `Qwen2ForCausalLM` (`model_type` "qwen2").
public struct Qwen2Configuration: FamilyConfiguration {
    public let base: ModelConfig
    /// `head_dim`, else hidden / heads.
    public let headDim: Int
    public let rope: RopeParameters
    /// Sliding window of each layer: from `layer_types` when given, else layers from `max_window_layers` on
    /// slide when `use_sliding_window` is set (transformers' rule); nil entries attend to everything.
    public let windows: [Int?]

    public init(config: ModelConfig, fields: JSONFieldReader) throws {
        try fields.requireSiLU()
        base = config
        headDim = try fields.optionalInt("head_dim") ?? config.hiddenSize / config.numAttentionHeads
        rope = try RopeParameters(fields: fields)
        windows = try DecoderArchitecture.layerWindows(config: config, fields: fields)
    }
}
