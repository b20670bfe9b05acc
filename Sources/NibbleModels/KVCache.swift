import NibbleKernels

/// Keys and values of every layer for one sequence: a block table over a `KVBlockPool`.
///
/// The model writes a step's new keys and values with `store`, attends over them with `attend`, and commits the
/// step with `advance` once every layer ran, so a failed step leaves the cache as it was. Blocks are taken as the
/// sequence grows (`reserve`, or on the first `store` of a step) and given back by `reset` or when the cache goes
/// away. Not thread-safe by design: one engine loop owns a cache and its pool at a time.
public final class KVCache {
    /// Number of decoder layers.
    public let layerCount: Int
    /// Key/value width per position: `num_key_value_heads * head_dim`.
    public let kvDim: Int
    /// Maximum number of positions.
    public let capacity: Int
    /// Number of positions committed so far.
    public internal(set) var count: Int = 0
    /// The pool the blocks come from.
    public let pool: KVBlockPool
    /// Block table: entry `i` holds positions `16·i ..< 16·(i+1)`; `released` once no query can see it again.
    public private(set) var blocks: [Int32] = []
    /// Table entry of a block given back because it lies outside every sliding window.
    public static let released: Int32 = -1
    /// Leading table entries given back (`releaseBlocks(outsideWindow:)`).
    public private(set) var releasedBlocks = 0
    /// Chain hashes of the leading blocks published to (or adopted from) the pool's prefix cache.
    private var publishedHashes: [UInt64] = []

    /// An empty cache over a pool of its own, large enough for `capacity` positions in float32.
    public convenience init(layerCount: Int, kvDim: Int, capacity: Int) {
        let blocks = (capacity + KVBlockPool.blockSize - 1) / KVBlockPool.blockSize
        self.init(pool: KVBlockPool(layerCount: layerCount, kvDim: kvDim, dtype: .float32, blockCount: blocks),
                  capacity: capacity)
    }

    /// An empty cache of at most `capacity` positions taking its blocks from a shared `pool`.
    public init(pool: KVBlockPool, capacity: Int) {
        layerCount = pool.layerCount
        kvDim = pool.kvDim
        self.capacity = capacity
        self.pool = pool
    }

    deinit { for block in blocks where block != Self.released { pool.release(block) } }

    /// Bytes of the blocks this sequence holds.
    public var allocatedBytes: Int { (blocks.count - releasedBlocks) * pool.blockBytes }

    /// Positions that can still be added: within `capacity`, in held blocks plus those the pool can give.
    public var room: Int {
        min(capacity - count, blocks.count * KVBlockPool.blockSize - count + pool.availableBlocks * KVBlockPool.blockSize)
    }

    /// Blocks the pool must give for `positions` more positions.
    public func blocksNeeded(toAdd positions: Int) -> Int {
        max(0, (count + positions + KVBlockPool.blockSize - 1) / KVBlockPool.blockSize - blocks.count)
    }

    /// Takes the blocks `positions` more positions need; false (taking nothing) when the pool or `capacity`
    /// cannot hold them.
    @discardableResult
    public func reserve(_ positions: Int) -> Bool {
        guard count + positions <= capacity else { return false }
        let needed = blocksNeeded(toAdd: positions)
        guard needed <= pool.availableBlocks else { return false }
        for _ in 0..<needed { blocks.append(pool.take()!) }
        return true
    }

    /// Writes the keys and values `(rows, kvDim)` of positions `count ..< count + rows` of `layer`.
    public func store(layer: Int, keys newKeys: UnsafePointer<Float>, values newValues: UnsafePointer<Float>, rows: Int) {
        let reserved = reserve(rows)
        precondition(reserved, "KV cache overflow")
        let place = pool.layout(layer: layer)
        var i = 0
        while i < rows {  // one run of positions per block
            let position = count + i
            let block = blocks[position / KVBlockPool.blockSize], slot = position % KVBlockPool.blockSize
            let run = min(rows - i, KVBlockPool.blockSize - slot)
            place.storeKeys(newKeys + i * kvDim, count: run, block: block, slot: slot)
            place.storeValues(newValues + i * kvDim, count: run, block: block, slot: slot)
            i += run
        }
    }

    /// Causal attention of `rows` queries `(rows, heads·headDim)` at positions `count ..< count + rows` over the
    /// stored positions of `layer` (the new ones included), into `output` `(rows, heads·headDim)`.
    ///
    /// - Parameter window: when set, a query at position p sees only positions `p - window + 1 ... p`
    ///   (sliding-window attention).
    public func attend(layer: Int, queries: UnsafePointer<Float>, rows: Int, heads: Int, headDim: Int, window: Int? = nil,
                       output: UnsafeMutablePointer<Float>) {
        blocks.withUnsafeBufferPointer { table in
            pagedCausalAttention(queries: queries, rows: rows, start: count, heads: heads, kvHeads: kvDim / headDim,
                                 headDim: headDim, window: window, layer: pool.layout(layer: layer),
                                 blocks: table.baseAddress!, output: output)
        }
    }

    /// One sequence's part of a batched `attend`: queries `(rows, heads·headDim)` and output `(rows, heads·headDim)`.
    public typealias AttentionEntry = (cache: KVCache, queries: UnsafePointer<Float>, rows: Int,
                                       output: UnsafeMutablePointer<Float>)

    /// `attend` for several caches at once, in one parallel loop (a batched step's decoding rows are too small
    /// to split one sequence at a time). Each entry's queries are at positions `count ..< count + rows` of its
    /// cache; results equal `attend` on each.
    public static func attend(_ entries: [AttentionEntry], layer: Int, heads: Int, headDim: Int, window: Int? = nil) {
        guard let kvDim = entries.first?.cache.kvDim else { return }
        var tables: [Int32] = []  // every cache's block table, one after the other
        var starts: [Int] = []    // (entries) offset of each table in `tables`
        starts.reserveCapacity(entries.count)
        for entry in entries {
            starts.append(tables.count)
            tables.append(contentsOf: entry.cache.blocks)
        }
        tables.withUnsafeBufferPointer { table in
            let sequences = entries.indices.map { i in
                let entry = entries[i]
                return PagedAttentionSequence(queries: entry.queries, rows: entry.rows, start: entry.cache.count,
                                              layer: entry.cache.pool.layout(layer: layer),
                                              blocks: table.baseAddress! + starts[i], output: entry.output)
            }
            pagedCausalAttention(sequences, heads: heads, kvHeads: kvDim / headDim, headDim: headDim, window: window)
        }
    }

    /// Gives back the leading blocks no later query can see when every layer attends only to the last `window`
    /// positions: a query at position `count` or later sees nothing before `count - window + 1`. Sliding-window
    /// models then hold about `window` positions per sequence, however long it runs.
    public func releaseBlocks(outsideWindow window: Int) {
        let hidden = max(0, count - window + 1) / KVBlockPool.blockSize  // blocks wholly before the first visible position
        guard hidden > releasedBlocks else { return }
        for index in releasedBlocks..<min(hidden, blocks.count) {
            pool.release(blocks[index])
            blocks[index] = Self.released
        }
        releasedBlocks = min(hidden, blocks.count)
    }

    /// Commits `rows` stored positions (taking their blocks if `store` did not, as for a model that keeps no keys).
    public func advance(by rows: Int) {
        let reserved = reserve(rows)
        precondition(reserved, "KV cache overflow")
        count += rows
    }

    /// Forgets every position and gives every block back to the pool.
    public func reset() {
        for block in blocks where block != Self.released { pool.release(block) }
        blocks.removeAll(keepingCapacity: true)
        releasedBlocks = 0
        publishedHashes.removeAll(keepingCapacity: true)
        count = 0
    }

    /// Drops positions from `newCount` on, so a shared prompt prefix can be reused; blocks past it go back to the
    /// pool, and a shared block that will be written again is copied first.
    public func truncate(to newCount: Int) {
        precondition(newCount >= releasedBlocks * KVBlockPool.blockSize && newCount <= count,
                     "cannot truncate into blocks already given back")
        let keep = (newCount + KVBlockPool.blockSize - 1) / KVBlockPool.blockSize
        for block in blocks[keep...] { pool.release(block) }
        blocks.removeLast(blocks.count - keep)
        publishedHashes.removeLast(max(0, publishedHashes.count - newCount / KVBlockPool.blockSize))
        count = newCount
        if newCount % KVBlockPool.blockSize != 0, let last = blocks.last, pool.isShared(last) {
            // Copy on write: the partial block will be written from `newCount` on.
            guard let copy = pool.take() else { preconditionFailure("KV pool exhausted") }
            for layer in 0..<layerCount {
                let place = pool.layout(layer: layer)
                place.keys(block: copy).copyMemory(from: place.keys(block: last), byteCount: place.halfBlockBytes)
                place.values(block: copy).copyMemory(from: place.values(block: last), byteCount: place.halfBlockBytes)
            }
            pool.release(last)
            blocks[blocks.count - 1] = copy
        }
    }

    // MARK: - Prefix reuse

    /// On an empty cache, takes the longest run of published blocks that starts `tokens` (whole blocks, always
    /// leaving the last token to be run so it yields logits) and returns the positions it covers.
    @discardableResult
    public func adoptCachedPrefix(of tokens: [Int]) -> Int {
        precondition(count == 0 && blocks.isEmpty, "a prefix is adopted by an empty cache")
        let size = KVBlockPool.blockSize
        let usable = min(max(0, tokens.count - 1), capacity) / size
        var hash: UInt64 = 0
        for index in 0..<usable {
            let slice = tokens[(index * size)..<((index + 1) * size)]
            hash = KVBlockPool.chainHash(previous: hash, tokens: slice)
            guard let block = pool.adopt(hash: hash, tokens: slice) else { break }
            blocks.append(block)
            publishedHashes.append(hash)
        }
        count = blocks.count * size
        return count
    }

    /// Publishes every full block not published yet so later sequences can reuse it; `tokens` holds (at least)
    /// the tokens at positions `0 ..< count`.
    public func publishFullBlocks(tokens: [Int]) {
        let size = KVBlockPool.blockSize
        precondition(tokens.count >= count)
        while publishedHashes.count < count / size {
            let index = publishedHashes.count
            // A block given back cannot be shared, and the chain of hashes cannot skip it.
            guard blocks[index] != Self.released else { return }
            let slice = tokens[(index * size)..<((index + 1) * size)]
            let hash = KVBlockPool.chainHash(previous: publishedHashes.last ?? 0, tokens: slice)
            pool.publish(blocks[index], hash: hash, tokens: slice)
            publishedHashes.append(hash)
        }
    }
}
