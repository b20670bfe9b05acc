import Foundation

/// Where one layer's keys and values live in a block pool: every block holds, for each layer, `blockSize` key rows
/// then `blockSize` value rows of `kvDim` elements.
public struct PagedKVLayer {
    /// Start of the pool's storage.
    public var storage: UnsafeMutableRawPointer
    public var dtype: KVCacheDType
    /// Positions per block.
    public var blockSize: Int
    /// Bytes from one block to the next.
    public var blockBytes: Int
    /// Bytes from a block's start to this layer's keys `(blockSize, kvDim)`.
    public var keyOffset: Int
    /// Bytes from a block's start to this layer's values `(blockSize, kvDim)`.
    public var valueOffset: Int
    /// Elements per position: `kvHeads * headDim`.
    public var kvDim: Int

    public init(storage: UnsafeMutableRawPointer, dtype: KVCacheDType, blockSize: Int, blockBytes: Int,
                keyOffset: Int, valueOffset: Int, kvDim: Int) {
        self.storage = storage
        self.dtype = dtype
        self.blockSize = blockSize
        self.blockBytes = blockBytes
        self.keyOffset = keyOffset
        self.valueOffset = valueOffset
        self.kvDim = kvDim
    }

    /// Address of the key row of `position` in `block`.
    @inline(__always) public func key(block: Int32, slot: Int) -> UnsafeMutableRawPointer {
        storage + Int(block) * blockBytes + keyOffset + slot * kvDim * dtype.byteWidth
    }

    /// Address of the value row of `position` in `block`.
    @inline(__always) public func value(block: Int32, slot: Int) -> UnsafeMutableRawPointer {
        storage + Int(block) * blockBytes + valueOffset + slot * kvDim * dtype.byteWidth
    }

    /// Writes one float32 row `(kvDim)` into `destination`, narrowing to the storage type.
    @inline(__always) public func write(_ row: UnsafePointer<Float>, to destination: UnsafeMutableRawPointer) {
        switch dtype {
        case .float32:
            destination.assumingMemoryBound(to: Float.self).update(from: row, count: kvDim)
        case .float16:
            let out = destination.assumingMemoryBound(to: UInt16.self)
            for i in 0..<kvDim { out[i] = f32ToF16(row[i]) }
        case .bfloat16:
            let out = destination.assumingMemoryBound(to: UInt16.self)
            for i in 0..<kvDim { out[i] = f32ToBF16(row[i]) }
        }
    }
}

/// Causal grouped-query attention over a paged cache: the same result as `causalAttention` over contiguous
/// buffers (within float32 rounding), reading keys and values block by block through a block table.
///
/// Each (row, head) pair keeps a running maximum, a running sum and an unnormalised output, and folds in one
/// block at a time (online softmax), so no buffer grows with the context. Half-precision keys are dotted
/// directly by the mixed-precision kernels; half-precision values are widened one row at a time.
///
/// - Parameters:
///   - queries: `(rows, heads * headDim)` for absolute positions `start ..< start + rows`.
///   - layer: where this layer's keys and values are; positions `0 ..< start + rows` must be stored.
///   - blocks: the sequence's block table, `ceil((start + rows) / blockSize)` entries.
///   - window: when set, the query at position p sees only positions `p - window + 1 ... p`.
///   - output: `(rows, heads * headDim)`.
public func pagedCausalAttention(queries: UnsafePointer<Float>, rows: Int, start: Int, heads: Int, kvHeads: Int,
                                 headDim: Int, window: Int? = nil, layer: PagedKVLayer, blocks: UnsafePointer<Int32>,
                                 output: UnsafeMutablePointer<Float>, path: KernelPath = .current) {
    let group = heads / kvHeads
    let qDim = heads * headDim
    let scale = 1 / Float(headDim).squareRoot()
    let tasks = rows * heads
    let blockSize = layer.blockSize
    let elementBytes = layer.dtype.byteWidth
    Parallel.forRange(tasks, work: tasks * (start + rows) * headDim * 2) { range in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: blockSize)  // (blockSize) one block's scores
        let widened = UnsafeMutablePointer<Float>.allocate(capacity: headDim)   // (headDim) one value row in float32
        defer {
            scores.deallocate()
            widened.deallocate()
        }
        for task in range {
            let r = task / heads, h = task % heads
            let headOffset = (h / group) * headDim * elementBytes
            let q = queries + r * qDim + h * headDim
            let end = start + r + 1  // causal: positions first ..< end
            let first = window.map { max(0, end - $0) } ?? 0
            let out = output + r * qDim + h * headDim
            out.initialize(repeating: 0, count: headDim)
            var runningMax = -Float.infinity
            var runningSum: Float = 0
            for b in (first / blockSize)...((end - 1) / blockSize) {
                let block = blocks[b]
                let low = max(first, b * blockSize), high = min(end, (b + 1) * blockSize)
                var blockMax = -Float.infinity
                for p in low..<high {
                    let key = layer.key(block: block, slot: p - b * blockSize) + headOffset
                    let dot: Float
                    switch layer.dtype {
                    case .float32: dot = dotF32(q, key.assumingMemoryBound(to: Float.self), headDim, path: path)
                    case .float16: dot = dotF16(q, key.assumingMemoryBound(to: UInt16.self), headDim, path: path)
                    case .bfloat16: dot = dotBF16(q, key.assumingMemoryBound(to: UInt16.self), headDim, path: path)
                    }
                    let score = dot * scale
                    scores[p - low] = score
                    blockMax = max(blockMax, score)
                }
                if blockMax > runningMax {
                    // Earlier blocks were weighted against a smaller maximum: rescale what they added.
                    if runningSum > 0 {
                        let correction = expf(runningMax - blockMax)
                        runningSum *= correction
                        for i in 0..<headDim { out[i] *= correction }
                    }
                    runningMax = blockMax
                }
                for p in low..<high {
                    let weight = expf(scores[p - low] - runningMax)
                    runningSum += weight
                    let value = layer.value(block: block, slot: p - b * blockSize) + headOffset
                    switch layer.dtype {
                    case .float32:
                        axpyF32(out, weight, value.assumingMemoryBound(to: Float.self), headDim, path: path)
                    case .float16:
                        widenF16(value.assumingMemoryBound(to: UInt16.self), into: widened, count: headDim, path: path)
                        axpyF32(out, weight, widened, headDim, path: path)
                    case .bfloat16:
                        let halves = value.assumingMemoryBound(to: UInt16.self)
                        for i in 0..<headDim { widened[i] = bf16ToF32(halves[i]) }
                        axpyF32(out, weight, widened, headDim, path: path)
                    }
                }
            }
            let inverse = 1 / runningSum
            for i in 0..<headDim { out[i] *= inverse }
        }
    }
}
