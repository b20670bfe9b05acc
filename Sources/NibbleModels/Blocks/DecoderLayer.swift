/// The weights of one decoder block: pre-norm attention (optionally with per-head query/key norms), then a
/// pre-norm SwiGLU MLP.
public struct DecoderLayer: Sendable {
    /// Input norm gain `(hidden)`.
    public let inputNorm: [Float]
    /// q `(heads·headDim, hidden)`, k/v `(kvHeads·headDim, hidden)`, o `(hidden, heads·headDim)`.
    public let q: Linear, k: Linear, v: Linear, o: Linear
    /// Per-head query and key norm gains `(headDim)`, for families that normalize them.
    public let qNorm: [Float]?, kNorm: [Float]?
    /// Post-attention norm gain `(hidden)`.
    public let postAttentionNorm: [Float]
    /// gate/up `(ffn, hidden)`, down `(hidden, ffn)`.
    public let gate: Linear, up: Linear, down: Linear
    /// Sliding attention window (nil: full causal attention).
    public let window: Int?
    /// Whether the block's weights are paged in from the checkpoint per use (the disk tier).
    public let offloaded: Bool

    public init(inputNorm: [Float], q: Linear, k: Linear, v: Linear, o: Linear, qNorm: [Float]? = nil,
                kNorm: [Float]? = nil, postAttentionNorm: [Float], gate: Linear, up: Linear, down: Linear,
                window: Int? = nil, offloaded: Bool = false) {
        self.inputNorm = inputNorm
        self.q = q
        self.k = k
        self.v = v
        self.o = o
        self.qNorm = qNorm
        self.kNorm = kNorm
        self.postAttentionNorm = postAttentionNorm
        self.gate = gate
        self.up = up
        self.down = down
        self.window = window
        self.offloaded = offloaded
    }

    /// Every linear of the block.
    public var linears: [Linear] { [q, k, v, o, gate, up, down] }
}
