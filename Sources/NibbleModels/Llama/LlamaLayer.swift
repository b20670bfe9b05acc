import NibbleKernels

/// One LLaMA decoder block: pre-norm attention with RoPE and GQA, then a pre-norm SwiGLU MLP.
public struct LlamaLayer: Sendable {
    /// `input_layernorm.weight` `(hidden)`.
    public let inputNorm: [Float]
    /// `self_attn.{q,k,v,o}_proj`: q `(heads·headDim, hidden)`, k/v `(kvHeads·headDim, hidden)`, o `(hidden, heads·headDim)`.
    public let q: Linear, k: Linear, v: Linear, o: Linear
    /// `post_attention_layernorm.weight` `(hidden)`.
    public let postAttentionNorm: [Float]
    /// `mlp.{gate,up}_proj` `(ffn, hidden)`, `mlp.down_proj` `(hidden, ffn)`.
    public let gate: Linear, up: Linear, down: Linear
    /// Whether the block's weights are paged in from the checkpoint per use (the disk tier).
    public let offloaded: Bool

    public init(inputNorm: [Float], q: Linear, k: Linear, v: Linear, o: Linear, postAttentionNorm: [Float],
                gate: Linear, up: Linear, down: Linear, offloaded: Bool = false) {
        self.offloaded = offloaded
        self.inputNorm = inputNorm
        self.q = q
        self.k = k
        self.v = v
        self.o = o
        self.postAttentionNorm = postAttentionNorm
        self.gate = gate
        self.up = up
        self.down = down
    }

    /// Every linear of the block with its module suffix, in checkpoint order.
    public var linears: [(name: String, linear: Linear)] {
        [("self_attn.q_proj", q), ("self_attn.k_proj", k), ("self_attn.v_proj", v), ("self_attn.o_proj", o),
         ("mlp.gate_proj", gate), ("mlp.up_proj", up), ("mlp.down_proj", down)]
    }
}
