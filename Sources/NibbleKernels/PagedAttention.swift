import CNibbleKernels
import Foundation

/// Where one layer's keys and values live in a block pool: every block holds, for each layer, `blockSize` keys
/// then `blockSize` values of `kvDim` elements.
///
/// Keys are stored transposed, `(kvDim, blockSize)`: element j of every position of a block is one contiguous
/// run, which attention reads as one vector (a decoding row's scores then need no horizontal sums, and a
/// prefill tile broadcasts each element without gathering). Values are stored by position, `(blockSize, kvDim)`.
public struct PagedKVLayer {
    /// Start of the pool's storage.
    public var storage: UnsafeMutableRawPointer
    public var dtype: KVCacheDType
    /// Positions per block.
    public var blockSize: Int
    /// Bytes from one block to the next.
    public var blockBytes: Int
    /// Bytes from a block's start to this layer's keys `(kvDim, blockSize)`.
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

    /// Bytes of one block's keys (or values) of this layer.
    public var halfBlockBytes: Int { blockSize * kvDim * dtype.byteWidth }

    /// Start of this layer's keys `(kvDim, blockSize)` in `block`.
    @inline(__always) public func keys(block: Int32) -> UnsafeMutableRawPointer {
        storage + Int(block) * blockBytes + keyOffset
    }

    /// Start of this layer's values `(blockSize, kvDim)` in `block`.
    @inline(__always) public func values(block: Int32) -> UnsafeMutableRawPointer {
        storage + Int(block) * blockBytes + valueOffset
    }

    /// Stores the float32 keys `(rows, kvDim)` of positions `slot ..< slot + rows` of `block`, narrowed to the
    /// storage type and transposed.
    public func storeKeys(_ rows: UnsafePointer<Float>, count: Int, block: Int32, slot: Int) {
        let base = keys(block: block)
        switch dtype {
        case .float32:
            let keys = base.assumingMemoryBound(to: Float.self)
            for r in 0..<count {
                for j in 0..<kvDim { keys[j * blockSize + slot + r] = rows[r * kvDim + j] }
            }
        case .float16, .bfloat16:
            withUnsafeTemporaryAllocation(of: UInt16.self, capacity: kvDim) { narrow in  // (kvDim) one key
                let keys = base.assumingMemoryBound(to: UInt16.self)
                for r in 0..<count {
                    if dtype == .float16 {
                        narrowF16(rows + r * kvDim, into: narrow.baseAddress!, count: kvDim)
                    } else {
                        narrowBF16(rows + r * kvDim, into: narrow.baseAddress!, count: kvDim)
                    }
                    for j in 0..<kvDim { keys[j * blockSize + slot + r] = narrow[j] }
                }
            }
        }
    }

    /// Stores the float32 values `(rows, kvDim)` of positions `slot ..< slot + rows` of `block`, narrowed to the
    /// storage type.
    public func storeValues(_ rows: UnsafePointer<Float>, count: Int, block: Int32, slot: Int) {
        let destination = values(block: block) + slot * kvDim * dtype.byteWidth
        switch dtype {
        case .float32:
            destination.assumingMemoryBound(to: Float.self).update(from: rows, count: count * kvDim)
        case .float16:
            narrowF16(rows, into: destination.assumingMemoryBound(to: UInt16.self), count: count * kvDim)
        case .bfloat16:
            narrowBF16(rows, into: destination.assumingMemoryBound(to: UInt16.self), count: count * kvDim)
        }
    }
}

/// Causal grouped-query attention over a paged cache: the same result as `causalAttention` over contiguous
/// buffers (within float32 rounding), reading keys and values block by block through a block table.
///
/// Each query keeps a running maximum, a running sum and an unnormalised output, and folds in one block at a
/// time (online softmax), so no buffer grows with the context. Half-precision keys and values are widened one
/// block at a time by the kernel, once for all the queries that read them.
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

/// Causal attention of several sequences in one parallel loop over tiles: a batched step's decoding rows are a
/// few thousand multiply-adds each, far too little to hand to the worker threads one sequence at a time. Each
/// query gets exactly what `pagedCausalAttention` gives it alone.
///
/// A tile is a few consecutive rows of one sequence × the query heads sharing one KV head: the C kernel reads
/// each key and value once for all of them (see `nibble_attend_tile`). Tiles are handed out costliest first (late
/// prefill rows see the most positions), in small chunks claimed as threads free up, so both threads stay busy
/// to the end of a long prompt and of a batch mixing decoding rows with a prefill chunk.
public func pagedCausalAttention(_ sequences: [PagedAttentionSequence], heads: Int, kvHeads: Int, headDim: Int,
                                 window: Int? = nil, path: KernelPath = .current) {
    precondition(window.map { $0 > 0 } ?? true, "attention window must be positive")
    let group = heads / kvHeads
    let tileRows = AttentionTile.rows(group: group)
    var tiles: [AttentionTile] = []
    var work = 0
    for (s, sequence) in sequences.enumerated() {
        for row in stride(from: 0, to: sequence.rows, by: tileRows) {
            let rows = min(tileRows, sequence.rows - row)
            let end = sequence.start + row + rows  // the tile's last row sees positions ..< end
            let cost = rows * min(end, window ?? end)
            work += cost * kvHeads * group * headDim * 4
            for kvHead in 0..<kvHeads {
                tiles.append(AttentionTile(sequence: s, row: row, rows: rows, kvHead: kvHead, cost: cost))
            }
        }
    }
    tiles.sort { $0.cost > $1.cost }
    let blockSize = sequences.map(\.layer.blockSize).max() ?? 1
    let scratchFloats = nibble_attend_scratch_floats(tileRows * group, headDim, blockSize)
    let implementation = path.implementation
    Parallel.forRange(tiles.count, work: work, chunksPerThread: 8) { range in
        // The kernel's scratch: transposed queries, one block's widened keys and values, scores, running sums.
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchFloats * MemoryLayout<Float>.size, alignment: 64)
        defer { scratch.deallocate() }
        let floats = scratch.bindMemory(to: Float.self, capacity: scratchFloats)
        for tile in tiles[range] {
            tile.run(sequences[tile.sequence], heads: heads, group: group, headDim: headDim, window: window ?? 0,
                     scratch: floats, implementation: implementation)
        }
    }
}

/// Rows `row ..< row + rows` of one sequence × the query heads of one KV head.
private struct AttentionTile {
    var sequence: Int
    var row: Int
    var rows: Int
    var kvHead: Int
    /// Rows × positions the last row sees: proportional to the tile's time.
    var cost: Int

    /// Rows per tile: about 24 queries (three vectors of eight lanes), measured fastest on AVX2 for head
    /// size 64 — fewer leave the register tiles short, more spill out of them.
    static func rows(group: Int) -> Int { max(1, 24 / group) }

    func run(_ sequence: PagedAttentionSequence, heads: Int, group: Int, headDim: Int, window: Int,
             scratch: UnsafeMutablePointer<Float>, implementation: nibble_impl) {
        let layer = sequence.layer
        let qDim = heads * headDim
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
        let offset = row * qDim + kvHead * group * headDim  // (row, first head of the group)
        let scale: Float = 1 / Float(headDim).squareRoot()
        let queries: UnsafePointer<Float> = sequence.queries + offset
        let output: UnsafeMutablePointer<Float> = sequence.output + offset
        nibble_attend_tile(implementation, &kv, kvHead, queries, qDim, rows, group, headDim, scale,
                           sequence.start + row, window, scratch, output, qDim)
    }
}
