import Foundation
import NibbleKernels
import NibbleTestSupport
import Testing

/// The tiled paged-attention kernel (`pagedCausalAttention`, C `nibble_attend_tile`) against softmax computed in
/// Double over explicit scores, on both paths, in every KV element type: tiles of many rows (the lane layout),
/// decoding rows (the few-lanes layout), GQA groups of 1–12 heads, head sizes that leave vector tails, histories
/// that start and end inside blocks, sliding windows. Also: a query gets the same bits whatever tile it is in,
/// and the softmax's exponential stays within 1 ulp of the exact one.
@Suite struct AttentionTileTests {
    static let paths: [KernelPath] = [.avx2, .portable]

    /// A layer's worth of paged cache over a scattered block table, holding `positions` keys and values.
    final class Cache {
        let layer: PagedKVLayer
        let storage: UnsafeMutableRawPointer
        let blocks: [Int32]
        /// Stored keys and values `(positions, kvDim)` as the cache rounds them.
        var keys: [Float] = [], values: [Float] = []

        init(dtype: KVCacheDType, kvDim: Int, positions: Int, rng: inout SeededRandom) {
            let blockSize = 16, blockCount = (positions + blockSize - 1) / blockSize + 3
            let half = blockSize * kvDim * dtype.byteWidth
            let blockBytes = 2 * half + 64  // an unrelated 64 bytes (another layer's) before the keys
            storage = .allocate(byteCount: blockCount * blockBytes, alignment: 64)
            // Unwritten slots hold NaN bits: what no query sees must never reach a result.
            storage.initializeMemory(as: UInt8.self, repeating: 0xFF, count: blockCount * blockBytes)
            layer = PagedKVLayer(storage: storage, dtype: dtype, blockSize: blockSize, blockBytes: blockBytes,
                                 keyOffset: 64, valueOffset: 64 + half, kvDim: kvDim)
            blocks = (0..<blockCount).map { Int32((2 * blockCount - 3 - $0) % blockCount) }  // reversed, rotated
            let rawKeys = KernelReferenceTests.random(positions * kvDim, &rng)
            let rawValues = KernelReferenceTests.random(positions * kvDim, &rng)
            let round: (Float) -> Float = switch dtype {
            case .float32: { $0 }
            case .float16: roundToF16
            case .bfloat16: roundToBF16
            }
            keys = rawKeys.map(round)
            values = rawValues.map(round)
            var position = 0
            while position < positions {  // runs of positions within one block, as the model stores them
                let slot = position % blockSize, run = min(positions - position, blockSize - slot, 5)
                let block = blocks[position / blockSize]
                rawKeys.withUnsafeBufferPointer { k in
                    layer.storeKeys(k.baseAddress! + position * kvDim, count: run, block: block, slot: slot)
                }
                rawValues.withUnsafeBufferPointer { v in
                    layer.storeValues(v.baseAddress! + position * kvDim, count: run, block: block, slot: slot)
                }
                position += run
            }
        }

        deinit { storage.deallocate() }

        /// Attention of `rows` queries `(rows, heads·headDim)` at positions `start ..< start + rows`.
        func attend(_ queries: [Float], rows: Int, start: Int, heads: Int, kvHeads: Int, headDim: Int, window: Int?,
                    path: KernelPath) -> [Float] {
            var output = [Float](repeating: .nan, count: rows * heads * headDim)  // (rows, heads·headDim)
            queries.withUnsafeBufferPointer { q in
                output.withUnsafeMutableBufferPointer { o in
                    blocks.withUnsafeBufferPointer { table in
                        pagedCausalAttention(queries: q.baseAddress!, rows: rows, start: start, heads: heads,
                                             kvHeads: kvHeads, headDim: headDim, window: window, layer: layer,
                                             blocks: table.baseAddress!, output: o.baseAddress!, path: path)
                    }
                }
            }
            return output
        }
    }

    /// softmax(q·kᵀ/√d)·v per (row, head) in Double, over the positions each row sees.
    static func reference(_ queries: [Float], cache: Cache, rows: Int, start: Int, heads: Int, kvHeads: Int,
                          headDim: Int, window: Int?) -> [Double] {
        let kvDim = kvHeads * headDim, group = heads / kvHeads
        var out = [Double](repeating: 0, count: rows * heads * headDim)
        for r in 0..<rows {
            let end = start + r + 1, first = window.map { max(0, end - $0) } ?? 0
            for h in 0..<heads {
                let g = h / group
                let q = (r * heads + h) * headDim
                let scores = (first..<end).map { p -> Double in
                    var dot = 0.0
                    for d in 0..<headDim { dot += Double(queries[q + d]) * Double(cache.keys[p * kvDim + g * headDim + d]) }
                    return dot / Double(headDim).squareRoot()
                }
                let top = scores.max()!
                let weights = scores.map { exp($0 - top) }
                let total = weights.reduce(0, +)
                for d in 0..<headDim {
                    var sum = 0.0
                    for (j, p) in (first..<end).enumerated() { sum += weights[j] * Double(cache.values[p * kvDim + g * headDim + d]) }
                    out[q + d] = sum / total
                }
            }
        }
        return out
    }

    /// (heads, kvHeads, headDim, start, rows, window): decoding rows and prefill tiles, groups of 1, 3, 8 and 12
    /// heads (12 > 8: even one row takes the lane layout), head sizes 64, 20 (vector tails) and 16, histories
    /// ending inside and on block edges, windows narrower and wider than a block.
    static let shapes: [(Int, Int, Int, Int, Int, Int?)] = [
        (9, 3, 64, 0, 1, nil), (9, 3, 64, 40, 1, nil), (9, 3, 64, 0, 37, nil), (9, 3, 64, 21, 16, 20),
        (8, 1, 20, 70, 1, 9), (8, 1, 20, 13, 11, nil), (4, 4, 16, 79, 1, nil), (4, 4, 16, 3, 30, 40),
        (12, 1, 24, 31, 1, nil), (12, 1, 24, 5, 4, 6),
    ]

    @Test(arguments: KVCacheDType.allCases)
    func tilesMatchDoubleSoftmax(dtype: KVCacheDType) {
        var rng = SeededRandom(seed: 2024)
        for (heads, kvHeads, headDim, start, rows, window) in Self.shapes {
            let cache = Cache(dtype: dtype, kvDim: kvHeads * headDim, positions: start + rows, rng: &rng)
            // Queries up to ±3 make peaked softmaxes (scores up to ~20), so the running maximum changes often.
            let queries = KernelReferenceTests.random(rows * heads * headDim, &rng).map { $0 * 3 }
            let expected = Self.reference(queries, cache: cache, rows: rows, start: start, heads: heads,
                                          kvHeads: kvHeads, headDim: headDim, window: window)
            for path in Self.paths {
                let got = cache.attend(queries, rows: rows, start: start, heads: heads, kvHeads: kvHeads,
                                       headDim: headDim, window: window, path: path)
                let worst = zip(got, expected).map { $0.isNaN ? .infinity : abs(Double($0) - $1) }.max()!
                #expect(worst < 2e-6, "\(dtype) \(path.name) heads \(heads)/\(kvHeads) d \(headDim) start \(start) rows \(rows) window \(String(describing: window)): \(worst)")
            }
        }
    }

    /// A prefill tile and the same rows decoded one at a time (the other layout for groups of up to 8) give the
    /// same bits, on each path.
    @Test(arguments: KVCacheDType.allCases)
    func eachRowGetsTheSameBitsInAnyTile(dtype: KVCacheDType) {
        var rng = SeededRandom(seed: 77)
        for (heads, kvHeads, headDim, start, rows, window) in Self.shapes where rows > 1 {
            let cache = Cache(dtype: dtype, kvDim: kvHeads * headDim, positions: start + rows, rng: &rng)
            let qDim = heads * headDim
            let queries = KernelReferenceTests.random(rows * qDim, &rng)
            for path in Self.paths {
                let together = cache.attend(queries, rows: rows, start: start, heads: heads, kvHeads: kvHeads,
                                            headDim: headDim, window: window, path: path)
                var alone: [Float] = []
                for r in 0..<rows {
                    alone += cache.attend(Array(queries[r * qDim ..< (r + 1) * qDim]), rows: 1, start: start + r,
                                          heads: heads, kvHeads: kvHeads, headDim: headDim, window: window, path: path)
                }
                #expect(zip(together, alone).allSatisfy { $0.bitPattern == $1.bitPattern },
                        "\(dtype) \(path.name) heads \(heads)/\(kvHeads) start \(start) rows \(rows)")
            }
        }
    }

    /// The softmax's exponential against exp in Double (correctly rounded to float), on both paths: a sweep of
    /// every 997th float bit pattern in [−110, 90] plus the edges.
    @Test func exponentialIsWithinOneUlp() {
        var inputs: [Float] = [0, -0.0, 1, -1, .infinity, -.infinity, .nan, 88.72, 88.73, -87.33, -103.9, -103.98, -104,
                               1e-30, -1e-30, .leastNonzeroMagnitude, .ulpOfOne]
        var bits = Float(-110).bitPattern
        while bits > Float(0).bitPattern | 0x8000_0000 { inputs.append(Float(bitPattern: bits)); bits -= 997 }
        bits = 0
        while Float(bitPattern: bits) < 90 { inputs.append(Float(bitPattern: bits)); bits += 997 }
        for path in Self.paths {
            var got = [Float](repeating: 0, count: inputs.count)
            expF32(inputs, into: &got, count: inputs.count, path: path)
            var worst: UInt32 = 0, worstInput: Float = 0
            for (x, y) in zip(inputs, got) {
                let exact = Float(exp(Double(x)))
                if exact.isNaN {
                    #expect(y.isNaN, "\(path.name) exp(\(x)) = \(y)")
                    continue
                }
                let distance = y.bitPattern > exact.bitPattern ? y.bitPattern - exact.bitPattern : exact.bitPattern - y.bitPattern
                if distance > worst { (worst, worstInput) = (distance, x) }
            }
            #expect(worst <= 1, "\(path.name): \(worst) ulp at \(worstInput)")
            var one: Float = 0
            expF32([0], into: &one, count: 1, path: path)
            #expect(one == 1, "\(path.name): exp(0) must be exactly 1 (an unchanged maximum rescales nothing)")
        }
    }
}
