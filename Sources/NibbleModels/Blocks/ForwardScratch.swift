/// The per-step activation buffers of a `DecoderModel`, allocated once and grown only when a step stacks more
/// rows than any before it (the engine's steps are bounded by its `max_batch_tokens`), so a decode step
/// allocates nothing proportional to the model.
final class ForwardScratch {
    /// Rows every buffer has room for.
    private(set) var rows = 0
    let hidden: Int, queryDim: Int, kvDim: Int, ffn: Int

    /// Residual stream `(rows, hidden)`.
    private(set) var x = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// Normed input `(rows, hidden)`.
    private(set) var h = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// Queries `(rows, heads·headDim)`.
    private(set) var q = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// New keys `(rows, kvDim)`.
    private(set) var k = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// New values `(rows, kvDim)`.
    private(set) var v = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// Attention output `(rows, heads·headDim)`.
    private(set) var attention = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// o_proj / down_proj output `(rows, hidden)`.
    private(set) var projected = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// gate_proj output, then silu(gate)·up `(rows, ffn)`.
    private(set) var gate = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// up_proj output `(rows, ffn)`.
    private(set) var up = UnsafeMutablePointer<Float>.allocate(capacity: 1)

    init(hidden: Int, queryDim: Int, kvDim: Int, ffn: Int) {
        self.hidden = hidden
        self.queryDim = queryDim
        self.kvDim = kvDim
        self.ffn = ffn
    }

    deinit { release() }

    /// Makes room for `count` rows (contents are not kept).
    func reserve(rows count: Int) {
        guard count > rows else { return }
        release()
        // Grow by half again, so a slowly rising batch size does not reallocate every step.
        let capacity = max(count, rows + rows / 2)
        x = .allocate(capacity: capacity * hidden)
        h = .allocate(capacity: capacity * hidden)
        q = .allocate(capacity: capacity * queryDim)
        k = .allocate(capacity: capacity * kvDim)
        v = .allocate(capacity: capacity * kvDim)
        attention = .allocate(capacity: capacity * queryDim)
        projected = .allocate(capacity: capacity * hidden)
        gate = .allocate(capacity: capacity * ffn)
        up = .allocate(capacity: capacity * ffn)
        rows = capacity
    }

    private func release() {
        for buffer in [x, h, q, k, v, attention, projected, gate, up] { buffer.deallocate() }
    }
}
