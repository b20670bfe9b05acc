/// Mistral: the LLaMA block without biases, with sliding-window attention in every layer.
public enum MistralFamily: ModelFamily {
    public static let name = "mistral"
    public static let modelTypes = ["mistral"]
    public static let architectures = ["MistralForCausalLM"]
    /// llama.cpp writes Mistral checkpoints as "llama"; this entry is for files that say "mistral".
    public static let ggufArchitectures = ["mistral"]

    /// transformers' `MistralForCausalLM` module names.
    public static let checkpointLayout = DecoderLayout(
        embeddings: "model.embed_tokens", layers: "model.layers", finalNorm: "model.norm", lmHead: "lm_head",
        inputNorm: "input_layernorm", postAttentionNorm: "post_attention_layernorm",
        query: "self_attn.q_proj", key: "self_attn.k_proj", value: "self_attn.v_proj", output: "self_attn.o_proj",
        gate: "mlp.gate_proj", up: "mlp.up_proj", down: "mlp.down_proj")

    public static func layout(_ configuration: MistralConfiguration) -> DecoderLayout { checkpointLayout }

    public static func architecture(_ c: MistralConfiguration) throws -> DecoderArchitecture {
        var a = try DecoderArchitecture(config: c.base, headDim: c.headDim, rope: c.rope)
        a.windows = Array(repeating: c.slidingWindow, count: a.layerCount)
        return a
    }
}
