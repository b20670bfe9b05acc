/// Qwen3 (dense): the LLaMA block with an RMSNorm on each query and key head before the rotation, an explicit
/// head width, and optional biases on all attention projections.
public enum Qwen3Family: ModelFamily {
    public static let name = "qwen3"
    public static let modelTypes = ["qwen3"]
    public static let architectures = ["Qwen3ForCausalLM"]
    public static let ggufArchitectures = ["qwen3"]

    /// transformers' `Qwen3ForCausalLM` module names: LLaMA's, plus the per-head query and key norms.
    public static let checkpointLayout: DecoderLayout = {
        var layout = LlamaFamily.checkpointLayout
        layout.queryNorm = "self_attn.q_norm"
        layout.keyNorm = "self_attn.k_norm"
        return layout
    }()

    public static func layout(_ configuration: Qwen3Configuration) -> DecoderLayout { checkpointLayout }

    public static func architecture(_ c: Qwen3Configuration) throws -> DecoderArchitecture {
        var a = try DecoderArchitecture(config: c.base, headDim: c.headDim, rope: c.rope)
        a.biases = .init(query: c.attentionBias, key: c.attentionBias, value: c.attentionBias, output: c.attentionBias)
        a.normalizesQueriesAndKeys = true
        a.windows = c.windows
        return a
    }
}
