import NibbleKernels
import NibbleModels
import NibbleTestSupport
import Testing

/// Attention over several sequences in one parallel loop (`KVCache.attend` with a batch, what a batched step
/// runs) gives each sequence the bits it gets alone, in every cache element type, with decoding rows and a
/// prefill chunk in the same batch, and with a sliding window.
@Suite struct BatchedAttentionTests {
    @Test(arguments: KVCacheDType.allCases, [nil, 20] as [Int?])
    func batchedAttentionGivesEachSequenceItsOwnBits(dtype: KVCacheDType, window: Int?) {
        let heads = 6, kvHeads = 2, headDim = 24, kvDim = kvHeads * headDim, qDim = heads * headDim
        var rng = SeededRandom(seed: 31)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &rng) } }
        let pool = KVBlockPool(layerCount: 1, kvDim: kvDim, dtype: dtype, blockCount: 64)
        // Histories of different lengths (one inside a block, one across several), then this step's rows:
        // two decoding rows and a 9-row prefill chunk.
        let histories = [5, 40, 0], stepRows = [1, 1, 9]
        let caches = histories.map { _ in KVCache(pool: pool, capacity: 256) }
        for (cache, length) in zip(caches, histories) where length > 0 {
            let keys = random(length * kvDim), values = random(length * kvDim)
            cache.store(layer: 0, keys: keys, values: values, rows: length)
            cache.advance(by: length)
        }
        let queries = stepRows.map { random($0 * qDim) }
        for (s, cache) in caches.enumerated() {
            let keys = random(stepRows[s] * kvDim), values = random(stepRows[s] * kvDim)
            cache.store(layer: 0, keys: keys, values: values, rows: stepRows[s])
        }
        // One at a time.
        var alone: [[Float]] = []
        for (s, cache) in caches.enumerated() {
            var output = [Float](repeating: .nan, count: stepRows[s] * qDim)  // (rows, heads·headDim)
            cache.attend(layer: 0, queries: queries[s], rows: stepRows[s], heads: heads, headDim: headDim, window: window,
                         output: &output)
            alone.append(output)
        }
        // All together.
        let outputs = stepRows.map { UnsafeMutablePointer<Float>.allocate(capacity: $0 * qDim) }  // (rows, heads·headDim) each
        let inputs = queries.map { q in
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: q.count)  // (rows, heads·headDim)
            pointer.initialize(from: q, count: q.count)
            return pointer
        }
        defer { for pointer in outputs + inputs { pointer.deallocate() } }
        let entries = caches.indices.map { i -> KVCache.AttentionEntry in
            (cache: caches[i], queries: UnsafePointer(inputs[i]), rows: stepRows[i], output: outputs[i])
        }
        KVCache.attend(entries, layer: 0, heads: heads, headDim: headDim, window: window)
        for s in caches.indices {
            let together = Array(UnsafeBufferPointer(start: outputs[s], count: stepRows[s] * qDim))
            #expect(!together.contains { $0.isNaN }, "\(dtype) sequence \(s) written")
            #expect(zip(alone[s], together).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(dtype) sequence \(s)")
        }
    }
}
