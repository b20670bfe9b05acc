import CNibbleKernels
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
            narrowF16(row, into: destination.assumingMemoryBound(to: UInt16.self), count: kvDim)
        case .bfloat16:
            narrowBF16(row, into: destination.assumingMemoryBound(to: UInt16.self), count: kvDim)
        }
    }
}

/// Causal grouped-query attention over a paged cache: the same result as `causalAttention` over contiguous
/// buffers (within float32 rounding), reading keys and values block by block through a block table.
///
/// Each (row, head) pair keeps a running maximum, a running sum and an unnormalised output, and folds in one
/// block at a time (online softmax), so no buffer grows with the context. Half-precision keys and values are
/// widened in registers by the kernel.
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
    let sequence = PagedAttentionSequence(queries: queries, rows: rows, start: start, layer: layer, blocks: blocks,
                                          output: output)
    pagedCausalAttention([sequence], heads: heads, kvHeads: kvHeads, headDim: headDim, window: window, path: path)
}

/// One sequence's rows in a batched `pagedCausalAttention` call.
public struct PagedAttentionSequence {
    /// `(rows, heads * headDim)` queries for absolute positions `start ..< start + rows`.
    public var queries: UnsafePointer<Float>
    public var rows: Int
    public var start: Int
    /// Where this layer's keys and values are; positions `0 ..< start + rows` must be stored.
    public var layer: PagedKVLayer
    /// The sequence's block table, `ceil((start + rows) / blockSize)` entries.
    public var blocks: UnsafePointer<Int32>
    /// `(rows, heads * headDim)`.
    public var output: UnsafeMutablePointer<Float>

    public init(queries: UnsafePointer<Float>, rows: Int, start: Int, layer: PagedKVLayer, blocks: UnsafePointer<Int32>,
                output: UnsafeMutablePointer<Float>) {
        self.queries = queries
        self.rows = rows
        self.start = start
        self.layer = layer
        self.blocks = blocks
        self.output = output
    }
}

/// Causal attention of several sequences in one parallel loop over all their (row, head) pairs: a batched step's
/// decoding rows are a few hundred multiply-adds each, far too little to hand to the worker threads one sequence
/// at a time. Each pair gives exactly what `pagedCausalAttention` gives it alone.
public func pagedCausalAttention(_ sequences: [PagedAttentionSequence], heads: Int, kvHeads: Int, headDim: Int,
                                 window: Int? = nil, path: KernelPath = .current) {
    var firstTask: [Int] = []  // (sequences + 1) index of each sequence's first (row, head) pair
    firstTask.reserveCapacity(sequences.count + 1)
    var tasks = 0, work = 0
    for sequence in sequences {
        firstTask.append(tasks)
        tasks += sequence.rows * heads
        work += sequence.rows * heads * (sequence.start + sequence.rows) * headDim * 2
    }
    firstTask.append(tasks)
    let blockSize = sequences.map(\.layer.blockSize).max() ?? 1
    // Causal rows late in a prompt see many more positions than early ones, and a batch mixes decoding rows
    // with prefill chunks: small chunks, claimed as threads free up, keep both threads busy to the end.
    Parallel.forRange(tasks, work: work, chunksPerThread: 8) { range in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: blockSize)  // (blockSize) one block's scores
        defer { scores.deallocate() }
        var s = 0
        for task in range {
            while task >= firstTask[s + 1] { s += 1 }
            let local = task - firstTask[s]
            attendHead(sequences[s], row: local / heads, head: local % heads, heads: heads, kvHeads: kvHeads,
                       headDim: headDim, window: window, scores: scores, path: path)
        }
    }
}

/// One (row, head) pair of `pagedCausalAttention` (the walk over the blocks is the C kernel's).
/// - scores: `(blockSize)` scratch.
@inline(__always)
private func attendHead(_ sequence: PagedAttentionSequence, row r: Int, head h: Int, heads: Int, kvHeads: Int,
                        headDim: Int, window: Int?, scores: UnsafeMutablePointer<Float>, path: KernelPath) {
    let layer = sequence.layer
    let qDim = heads * headDim
    let end = sequence.start + r + 1  // causal: positions first ..< end
    let first = window.map { max(0, end - $0) } ?? 0
    var kv = nibble_paged_kv()
    kv.storage = UnsafePointer(layer.storage.assumingMemoryBound(to: CChar.self))
    kv.block_bytes = layer.blockBytes
    kv.key_offset = layer.keyOffset
    kv.value_offset = layer.valueOffset
    kv.slot_bytes = layer.kvDim * layer.dtype.byteWidth
    kv.blocks = sequence.blocks
    kv.block_size = layer.blockSize
    switch layer.dtype {
    case .float32: kv.format = NIBBLE_WEIGHT_F32
    case .float16: kv.format = NIBBLE_WEIGHT_F16
    case .bfloat16: kv.format = NIBBLE_WEIGHT_BF16
    }
    let headOffset = (h / (heads / kvHeads)) * headDim * layer.dtype.byteWidth
    nibble_attend_head(path.implementation, &kv, headOffset, sequence.queries + r * qDim + h * headDim, headDim,
                       1 / Float(headDim).squareRoot(), first, end, scores, sequence.output + r * qDim + h * headDim)
}
