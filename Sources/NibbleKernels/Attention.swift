/// Causal grouped-query attention over a key/value cache.
///
/// - Parameters:
///   - queries: `(rows, heads * headDim)` for absolute positions `start ..< start + rows`.
///   - keys, values: cache `(capacity, kvHeads * headDim)`, filled up to `start + rows`.
///   - output: `(rows, heads * headDim)`.
///   - scratch: at least `threadCount * (start + rows)` floats for scores.
public func causalAttention(queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                            rows: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int,
                            output: UnsafeMutablePointer<Float>) {
    let group = heads / kvHeads
    let qDim = heads * headDim, kvDim = kvHeads * headDim
    let scale = 1 / Float(headDim).squareRoot()
    let tasks = rows * heads
    let length = start + rows
    Parallel.forRange(tasks, work: tasks * length * headDim * 2) { range in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: length)
        defer { scores.deallocate() }
        for task in range {
            let r = task / heads, h = task % heads
            let g = h / group
            let q = queries + r * qDim + h * headDim
            let visible = start + r + 1  // causal: positions 0 ... start + r
            for j in 0..<visible { scores[j] = dotF32(q, keys + j * kvDim + g * headDim, headDim) * scale }
            softmaxInPlace(scores, visible)
            let out = output + r * qDim + h * headDim
            out.initialize(repeating: 0, count: headDim)
            for j in 0..<visible {
                let weight = scores[j]
                let v = values + j * kvDim + g * headDim
                for d in 0..<headDim { out[d] += weight * v[d] }
            }
        }
    }
}
