/// Qwen3 (dense): the LLaMA block with an RMSNorm on each query and key head before the rotation, an explicit
/// head width, and optional biases on all attention projections.
public enum Qwen3Family: ModelFamily {
    public static let name = "qwen3"
    public static let modelTypes = ["qwen3"]
    public static let architectures = ["Qwen3ForCausalLM"]
    public static let ggufArchitectures = ["qwen3"]

    /// transformers' `Qwen3ForCausalLM` module names.
    public static let checkpointLayout = DecoderLayout(
        embeddings: "model.embed_tokens", layers: "model.layers", finalNorm: "model.norm", lmHead: "lm_head",
        inputNorm: "input_layernorm", postAttentionNorm: "post_attention_layernorm",
        query: "self_attn.q_proj", key: "self_attn.k_proj", value: "self_attn.v_proj", output: "self_attn.o_proj",
        queryNorm: "self_attn.q_norm", keyNorm: "self_attn.k_norm",
        gate: "mlp.gate_proj", up: "mlp.up_proj", down: "mlp.down_proj")

    public static func layout(_ configuration: Qwen3Configuration) -> DecoderLayout { checkpointLayout }

    public static func architecture(_ c: Qwen3Configuration) throws -> DecoderArchitecture {
        var a = try DecoderArchitecture(config: c.base, headDim: c.headDim, rope: c.rope)
        a.biases = .init(query: c.attentionBias, key: c.attentionBias, value: c.attentionBias, output: c.attentionBias)
        a.normalizesQueriesAndKeys = true
        a.windows = c.windows
        return a
    }
}
