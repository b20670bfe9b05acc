/// Qwen2 (and Qwen2.5): the LLaMA block with biases on the query, key and value projections (not the output),
/// usually tied embeddings and a large rotary base; optional sliding windows on the upper layers.
public enum Qwen2Family: ModelFamily {
    public static let name = "qwen2"
    public static let modelTypes = ["qwen2"]
    public static let architectures = ["Qwen2ForCausalLM"]
    public static let ggufArchitectures = ["qwen2"]

    /// transformers' `Qwen2ForCausalLM` module names.
    public static let checkpointLayout = DecoderLayout(
        embeddings: "model.embed_tokens", layers: "model.layers", finalNorm: "model.norm", lmHead: "lm_head",
        inputNorm: "input_layernorm", postAttentionNorm: "post_attention_layernorm",
        query: "self_attn.q_proj", key: "self_attn.k_proj", value: "self_attn.v_proj", output: "self_attn.o_proj",
        gate: "mlp.gate_proj", up: "mlp.up_proj", down: "mlp.down_proj")

    public static func layout(_ configuration: Qwen2Configuration) -> DecoderLayout { checkpointLayout }

    public static func architecture(_ c: Qwen2Configuration) throws -> DecoderArchitecture {
        var a = try DecoderArchitecture(config: c.base, headDim: c.headDim, rope: c.rope)
        a.biases = .init(query: true, key: true, value: true)
        a.windows = c.windows
        return a
    }
}
