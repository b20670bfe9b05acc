import NibbleKernels

/// Fixed-size blocks of keys and values for every layer, shared by all sequences of one model.
///
/// Sequences take blocks as they grow (`KVCache` is a block table over a pool) and give them back when they end.
/// Full blocks can be published under a chain hash of every token up to their end, so a later sequence with the
/// same prefix reuses them; published blocks nobody holds stay cached until their room is needed, evicted least
/// recently used first. Not thread-safe by design: one engine loop owns a pool.
public final class KVBlockPool {
    /// Positions per block.
    public static let blockSize = 16

    public let layerCount: Int
    /// Key/value width per position: `num_key_value_heads * head_dim`.
    public let kvDim: Int
    public let dtype: KVCacheDType
    /// Blocks in the pool.
    public let blockCount: Int
    /// Bytes of one block (keys and values of every layer).
    public let blockBytes: Int

    /// Per block and layer, keys `(kvDim, blockSize)` (transposed, see `PagedKVLayer`) then values
    /// `(blockSize, kvDim)`, elements of `dtype`.
    let storage: UnsafeMutableRawPointer
    // Per-block bookkeeping grows as blocks are first used (`touched` of them), so a large budget costs no
    // memory until sequences fill it.
    /// Blocks used at least once; blocks `touched ..< blockCount` are free and have no bookkeeping yet.
    private var touched = 0
    /// Holders of each block (sequences whose block table lists it), `(touched)`.
    private var holders: [Int32] = []
    /// Used blocks nobody holds and no prefix names, ready to take.
    private var free: [Int32] = []
    /// Chain hash a block is published under, `(touched)`; nil when unpublished.
    private var published: [UInt64?] = []
    /// Published blocks by chain hash.
    private var byHash: [UInt64: Int32] = [:]
    /// Tokens of each block, `(touched, blockSize)`, checked on lookup so a hash collision never hands out
    /// another prefix's keys.
    private var blockTokens: [Int32] = []
    /// Cached blocks (published, held by nobody) as a doubly linked list, least recently used at `lruHead`, `(touched)`.
    private var lruPrevious: [Int32] = []
    private var lruNext: [Int32] = []
    private var lruHead: Int32 = -1
    private var lruTail: Int32 = -1
    /// Number of cached blocks.
    public private(set) var cachedBlocks = 0

    /// Bytes one block takes for a model of this shape.
    public static func bytesPerBlock(layerCount: Int, kvDim: Int, dtype: KVCacheDType) -> Int {
        2 * layerCount * blockSize * kvDim * dtype.byteWidth
    }

    /// A pool of `blockCount` blocks; the memory is reserved now and touched only as blocks are written.
    public init(layerCount: Int, kvDim: Int, dtype: KVCacheDType = .float32, blockCount: Int) {
        precondition(layerCount > 0 && kvDim > 0 && blockCount >= 0)
        self.layerCount = layerCount
        self.kvDim = kvDim
        self.dtype = dtype
        self.blockCount = blockCount
        blockBytes = Self.bytesPerBlock(layerCount: layerCount, kvDim: kvDim, dtype: dtype)
        storage = .allocate(byteCount: max(1, blockCount * blockBytes), alignment: 64)
    }

    /// A pool of as many blocks as `budgetBytes` holds.
    public convenience init(layerCount: Int, kvDim: Int, dtype: KVCacheDType, budgetBytes: Int) {
        let perBlock = Self.bytesPerBlock(layerCount: layerCount, kvDim: kvDim, dtype: dtype)
        // Block ids are 32-bit: a budget past 2^31 blocks is clamped (no real model has blocks that small).
        self.init(layerCount: layerCount, kvDim: kvDim, dtype: dtype,
                  blockCount: min(max(0, budgetBytes) / perBlock, Int(Int32.max)))
    }

    deinit { storage.deallocate() }

    /// Bytes reserved for the blocks.
    public var totalBytes: Int { blockCount * blockBytes }
    /// Blocks a sequence can take now: free ones plus cached ones (evicted on demand).
    public var availableBlocks: Int { blockCount - touched + free.count + cachedBlocks }
    /// Blocks held by at least one sequence.
    public var blocksInUse: Int { touched - free.count - cachedBlocks }

    /// Where `layer`'s keys and values are, for the attention kernel.
    public func layout(layer: Int) -> PagedKVLayer {
        let half = Self.blockSize * kvDim * dtype.byteWidth
        return PagedKVLayer(storage: storage, dtype: dtype, blockSize: Self.blockSize, blockBytes: blockBytes,
                            keyOffset: layer * 2 * half, valueOffset: layer * 2 * half + half, kvDim: kvDim)
    }

    // MARK: - Taking and giving back

    /// Takes a block for one holder: a free one, else the least recently used cached one (forgetting its prefix).
    /// Nil when every block is held.
    func take() -> Int32? {
        let block: Int32
        if let last = free.popLast() {
            block = last
        } else if touched < blockCount {
            block = Int32(touched)
            touched += 1
            holders.append(0)
            published.append(nil)
            blockTokens.append(contentsOf: repeatElement(0, count: Self.blockSize))
            lruPrevious.append(-1)
            lruNext.append(-1)
        } else if lruHead >= 0 {
            block = lruHead
            unlinkCached(block)
            if let hash = published[Int(block)] { byHash[hash] = nil }
            published[Int(block)] = nil
        } else {
            return nil
        }
        holders[Int(block)] = 1
        return block
    }

    /// Drops one holder; a block nobody holds is cached when published, else free.
    func release(_ block: Int32) {
        let index = Int(block)
        precondition(holders[index] > 0, "KV block released twice")
        holders[index] -= 1
        guard holders[index] == 0 else { return }
        if published[index] != nil {
            linkCachedAtTail(block)
        } else {
            free.append(block)
        }
    }

    /// Whether another sequence also holds `block` or a prefix names it (then it must not be written).
    func isShared(_ block: Int32) -> Bool { holders[Int(block)] > 1 || published[Int(block)] != nil }

    // MARK: - Prefix cache

    /// The published block for `hash` whose tokens are `tokens` (`blockSize` of them), now held once more.
    func adopt(hash: UInt64, tokens: ArraySlice<Int>) -> Int32? {
        guard let block = byHash[hash] else { return nil }
        let base = Int(block) * Self.blockSize
        for (i, token) in tokens.enumerated() where blockTokens[base + i] != Int32(truncatingIfNeeded: token) { return nil }
        if holders[Int(block)] == 0 { unlinkCached(block) }
        holders[Int(block)] += 1
        return block
    }

    /// Publishes a full, held block under `hash`; the first block published under a hash keeps it.
    func publish(_ block: Int32, hash: UInt64, tokens: ArraySlice<Int>) {
        guard byHash[hash] == nil, published[Int(block)] == nil else { return }
        byHash[hash] = block
        published[Int(block)] = hash
        let base = Int(block) * Self.blockSize
        for (i, token) in tokens.enumerated() { blockTokens[base + i] = Int32(truncatingIfNeeded: token) }
    }

    /// Chain hash of a block: the previous block's hash folded with this block's tokens (FNV-1a over 64-bit words,
    /// then a final mix), so equal hashes mean equal prefixes up to the block's end.
    static func chainHash(previous: UInt64, tokens: ArraySlice<Int>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ previous
        for token in tokens {
            hash ^= UInt64(bitPattern: Int64(token))
            hash = hash &* 0x0000_0100_0000_01b3
            hash ^= hash >> 29
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }

    private func linkCachedAtTail(_ block: Int32) {
        lruPrevious[Int(block)] = lruTail
        lruNext[Int(block)] = -1
        if lruTail >= 0 { lruNext[Int(lruTail)] = block } else { lruHead = block }
        lruTail = block
        cachedBlocks += 1
    }

    private func unlinkCached(_ block: Int32) {
        let previous = lruPrevious[Int(block)], next = lruNext[Int(block)]
        if previous >= 0 { lruNext[Int(previous)] = next } else { lruHead = next }
        if next >= 0 { lruPrevious[Int(next)] = previous } else { lruTail = previous }
        lruPrevious[Int(block)] = -1
        lruNext[Int(block)] = -1
        cachedBlocks -= 1
    }
}
