/// LLaMA (1, 2, 3 and the many checkpoints that share its layout): RoPE (default, linear or llama3 scaling),
/// grouped-query attention, optional biases on all attention or all MLP projections.
public enum LlamaFamily: ModelFamily {
    public static let name = "llama"
    public static let modelTypes = ["llama"]
    public static let architectures = ["LlamaForCausalLM"]
    public static let ggufArchitectures = ["llama"]

    /// transformers' `LlamaForCausalLM` module names.
    public static let checkpointLayout = DecoderLayout(
        embeddings: "model.embed_tokens", layers: "model.layers", finalNorm: "model.norm", lmHead: "lm_head",
        inputNorm: "input_layernorm", postAttentionNorm: "post_attention_layernorm",
        query: "self_attn.q_proj", key: "self_attn.k_proj", value: "self_attn.v_proj", output: "self_attn.o_proj",
        gate: "mlp.gate_proj", up: "mlp.up_proj", down: "mlp.down_proj")

    public static func layout(_ configuration: LlamaConfiguration) -> DecoderLayout { checkpointLayout }

    public static func architecture(_ c: LlamaConfiguration) throws -> DecoderArchitecture {
        var a = try DecoderArchitecture(config: c.base, headDim: c.headDim, rope: c.rope)
        a.biases = .init(query: c.attentionBias, key: c.attentionBias, value: c.attentionBias, output: c.attentionBias,
                         mlp: c.mlpBias)
        return a
    }

    /// Older checkpoints saved each layer's rotary frequencies as a buffer; they are recomputed from the config.
    public static func dropsTensor(_ name: String) -> Bool { name.hasSuffix(".rotary_emb.inv_freq") }
}
