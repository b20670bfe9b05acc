/// Causal grouped-query attention over a key/value cache.
///
/// - Parameters:
///   - queries: `(rows, heads * headDim)` for absolute positions `start ..< start + rows`.
///   - keys, values: cache `(capacity, kvHeads * headDim)`, filled up to `start + rows`.
///   - window: when set, the query at position p sees only positions `p - window + 1 ... p` (sliding window).
///   - output: `(rows, heads * headDim)`.
///   - path: kernel implementation (tests compare the vector path with the portable one).
///
/// Work is split over (row, head) pairs; each pair's scores are one vectorized dot product per visible
/// position and its output one vectorized y += p·v per position, so long contexts run at memory speed.
public func causalAttention(queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                            rows: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int, window: Int? = nil,
                            output: UnsafeMutablePointer<Float>, path: KernelPath = .current) {
    let group = heads / kvHeads
    let qDim = heads * headDim, kvDim = kvHeads * headDim
    let scale = 1 / Float(headDim).squareRoot()
    let tasks = rows * heads
    let length = start + rows
    Parallel.forRange(tasks, work: tasks * length * headDim * 2) { range in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: length)  // (visible positions) per task
        defer { scores.deallocate() }
        for task in range {
            let r = task / heads, h = task % heads
            let g = h / group
            let q = queries + r * qDim + h * headDim
            let end = start + r + 1  // causal: positions first ... start + r
            let first = window.map { max(0, end - $0) } ?? 0
            let visible = end - first
            for j in 0..<visible {
                scores[j] = dotF32(q, keys + (first + j) * kvDim + g * headDim, headDim, path: path) * scale
            }
            softmaxInPlace(scores, visible)
            let out = output + r * qDim + h * headDim
            out.initialize(repeating: 0, count: headDim)
            for j in 0..<visible { axpyF32(out, scores[j], values + (first + j) * kvDim + g * headDim, headDim, path: path) }
        }
    }
}
