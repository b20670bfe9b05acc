import Foundation
import NibbleKernels
import NibbleModels
import NibbleTestSupport
import Testing

/// The paged KV cache: blocks taken as a sequence grows, attention over a block table equal to attention over
/// contiguous buffers, prefix blocks reused and evicted least recently used.
@Suite struct PagedKVCacheTests {
    static func random(_ count: Int, _ rng: inout SeededRandom) -> [Float] {
        (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }
    }

    /// Stores `rows` positions into every layer of `cache` and attends, as a model step does.
    static func step(_ cache: KVCache, keys: [Float], values: [Float], queries: [Float], rows: Int, heads: Int,
                     headDim: Int, window: Int? = nil) -> [[Float]] {
        var outputs: [[Float]] = []
        for layer in 0..<cache.layerCount {
            var output = [Float](repeating: 0, count: rows * heads * headDim)  // (rows, heads·headDim)
            keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    cache.store(layer: layer, keys: k.baseAddress!, values: v.baseAddress!, rows: rows)
                }
            }
            queries.withUnsafeBufferPointer { q in
                output.withUnsafeMutableBufferPointer { o in
                    cache.attend(layer: layer, queries: q.baseAddress!, rows: rows, heads: heads, headDim: headDim,
                                 window: window, output: o.baseAddress!)
                }
            }
            outputs.append(output)
        }
        cache.advance(by: rows)
        return outputs
    }

    @Test(arguments: KVCacheDType.allCases)
    func pagedAttentionMatchesContiguousAttention(dtype: KVCacheDType) {
        let heads = 4, kvHeads = 2, headDim = 16, kvDim = kvHeads * headDim, qDim = heads * headDim
        var rng = SeededRandom(seed: 11)
        // Two sequences share the pool and grow in turns, so each one's blocks are scattered through it.
        let pool = KVBlockPool(layerCount: 2, kvDim: kvDim, dtype: dtype, blockCount: 16)
        let cache = KVCache(pool: pool, capacity: 100), other = KVCache(pool: pool, capacity: 100)
        var allKeys: [Float] = [], allValues: [Float] = []  // (positions, kvDim), as stored (rounded to dtype)
        func round(_ value: Float) -> Float {
            switch dtype {
            case .float32: return value
            case .float16: return roundToF16(value)
            case .bfloat16: return roundToBF16(value)
            }
        }
        var worst: Float = 0
        for (rows, window) in [(37, nil), (1, nil), (9, 8), (1, 8), (20, nil)] as [(Int, Int?)] {
            let keys = Self.random(rows * kvDim, &rng), values = Self.random(rows * kvDim, &rng)
            let queries = Self.random(rows * qDim, &rng)
            _ = Self.step(other, keys: keys, values: values, queries: queries, rows: rows, heads: heads, headDim: headDim)
            let start = cache.count
            let paged = Self.step(cache, keys: keys, values: values, queries: queries, rows: rows, heads: heads,
                                  headDim: headDim, window: window)
            allKeys += keys.map(round)
            allValues += values.map(round)
            var expected = [Float](repeating: 0, count: rows * qDim)  // (rows, heads·headDim)
            causalAttention(queries: queries, keys: allKeys, values: allValues, rows: rows, start: start, heads: heads,
                            kvHeads: kvHeads, headDim: headDim, window: window, output: &expected)
            for output in paged { worst = max(worst, zip(output, expected).map { abs($0 - $1) }.max()!) }
        }
        #expect(worst <= 1e-5, "\(dtype): max |Δ| = \(worst)")
        #expect(Set(cache.blocks).isDisjoint(with: Set(other.blocks)))
        #expect(cache.blocks.count == 5 && cache.blocks != Array(cache.blocks.first!..<(cache.blocks.first! + 5)))
    }

    @Test func blocksAreTakenAsTheSequenceGrowsAndGivenBack() {
        let pool = KVBlockPool(layerCount: 1, kvDim: 4, dtype: .float32, blockCount: 4)
        let cache = KVCache(pool: pool, capacity: 60)
        #expect(cache.blocks.isEmpty && cache.allocatedBytes == 0)
        #expect(cache.reserve(1))
        #expect(cache.blocks.count == 1 && pool.availableBlocks == 3)
        cache.advance(by: 16)
        #expect(cache.blocks.count == 1)
        cache.advance(by: 1)
        #expect(cache.blocks.count == 2)
        #expect(cache.allocatedBytes == 2 * pool.blockBytes)
        #expect(cache.room == 60 - 17)
        let other = KVCache(pool: pool, capacity: 64)
        #expect(other.reserve(32))
        #expect(pool.availableBlocks == 0)
        // All or nothing: a reservation the pool cannot hold takes no block.
        #expect(!cache.reserve(16))
        #expect(cache.blocks.count == 2)
        #expect(cache.room == 15)
        other.reset()
        #expect(pool.availableBlocks == 2 && pool.blocksInUse == 2)
        cache.reset()
        #expect(pool.availableBlocks == 4 && pool.blocksInUse == 0 && cache.count == 0)
    }

    @Test func publishedPrefixBlocksAreReusedThenEvictedLeastRecentlyUsed() {
        let pool = KVBlockPool(layerCount: 1, kvDim: 2, dtype: .float32, blockCount: 5)
        let a = Array(100..<133), b = Array(200..<217)
        let first = KVCache(pool: pool, capacity: 64)
        first.advance(by: a.count)
        first.publishFullBlocks(tokens: a)
        let second = KVCache(pool: pool, capacity: 64)
        second.advance(by: b.count)
        second.publishFullBlocks(tokens: b)
        #expect(pool.availableBlocks == 0)
        first.reset()   // a's two full blocks stay cached, its partial third is free
        second.reset()  // b's full block is cached after them
        #expect(pool.cachedBlocks == 3 && pool.blocksInUse == 0 && pool.availableBlocks == 5)

        // The same prefix comes back: whole blocks reused, the last token always left to run.
        let again = KVCache(pool: pool, capacity: 64)
        #expect(again.adoptCachedPrefix(of: a) == 32)
        #expect(pool.blocksInUse == 2 && pool.cachedBlocks == 1)
        again.reset()
        let exact = KVCache(pool: pool, capacity: 64)
        #expect(exact.adoptCachedPrefix(of: Array(a.prefix(32))) == 16)
        exact.reset()
        // A different token inside the second block stops reuse after the first.
        var changed = a
        changed[20] = 7
        let partial = KVCache(pool: pool, capacity: 64)
        #expect(partial.adoptCachedPrefix(of: changed) == 16)
        partial.reset()

        // Room is needed: free blocks go first, then the least recently used cached one (b's).
        let fresh = KVCache(pool: pool, capacity: 80)
        #expect(fresh.reserve(48))
        #expect(pool.cachedBlocks == 2)
        let reuseB = KVCache(pool: pool, capacity: 64)
        #expect(reuseB.adoptCachedPrefix(of: b + [1]) == 0)
        let reuseA = KVCache(pool: pool, capacity: 64)
        #expect(reuseA.adoptCachedPrefix(of: a) == 32)
        #expect(pool.availableBlocks == 0)
    }

    @Test func truncatingIntoASharedBlockCopiesIt() {
        let pool = KVBlockPool(layerCount: 1, kvDim: 1, dtype: .float32, blockCount: 4)
        let tokens = Array(0..<40)
        let cache = KVCache(pool: pool, capacity: 64)
        var rng = SeededRandom(seed: 3)
        let keys = Self.random(40, &rng)
        _ = Self.step(cache, keys: keys, values: keys, queries: Self.random(40, &rng), rows: 40, heads: 1, headDim: 1)
        cache.publishFullBlocks(tokens: tokens)
        let shared = cache.blocks[1]
        cache.truncate(to: 20)
        #expect(cache.count == 20 && cache.blocks.count == 2)
        #expect(cache.blocks[1] != shared)  // the published block stays as it was for other sequences
        let reuse = KVCache(pool: pool, capacity: 64)
        #expect(reuse.adoptCachedPrefix(of: tokens) == 32)
    }
}
