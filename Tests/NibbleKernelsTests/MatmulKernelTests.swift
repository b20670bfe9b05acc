import Foundation
import NibbleKernels
import Testing

/// The C matmul / dot / axpy kernels on both paths (vector and portable) against Double-precision references,
/// over sizes that exercise every register-tile edge: lengths not a multiple of 8 or 16, 1–9 input rows,
/// output counts that leave partial tiles and partial cache blocks.
@Suite struct MatmulKernelTests {
    typealias Seeded = KernelReferenceTests.Seeded

    static let paths: [KernelPath] = [.vector, .avx2, .portable]

    /// A weight in `format` plus its exact float32 values.
    static func weight(_ format: DenseFormat, out: Int, inp: Int, rng: inout Seeded) -> (DenseWeight, [Float]) {
        let values = KernelReferenceTests.random(out * inp, &rng)
        switch format {
        case .f32:
            return (DenseWeight(f32: values, outFeatures: out, inFeatures: inp), values)
        case .f16:
            let bits = values.map(f32ToF16)
            return (bits.withUnsafeBytes { DenseWeight(copying: $0, format: .f16, outFeatures: out, inFeatures: inp) },
                    bits.map(f16ToF32))
        case .bf16:
            let bits = values.map(f32ToBF16)
            return (bits.withUnsafeBytes { DenseWeight(copying: $0, format: .bf16, outFeatures: out, inFeatures: inp) },
                    bits.map(bf16ToF32))
        }
    }

    static func apply(_ weight: DenseWeight, _ x: [Float], rows: Int, path: KernelPath) -> [Float] {
        var y = [Float](repeating: .nan, count: rows * weight.outFeatures)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in weight.apply(xp.baseAddress!, rows: rows, into: yp.baseAddress!, path: path) }
        }
        return y
    }

    static func maxError(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { $0.isNaN || $1.isNaN ? .infinity : abs($0 - $1) }.max() ?? 0
    }

    /// Every kernel path against the naive product, over the given shapes and row counts.
    static func expectNaiveProduct(_ format: DenseFormat, shapes: [(out: Int, inp: Int)], rows: ClosedRange<Int>,
                                   seed: UInt64) {
        var rng = Seeded(seed: seed)
        for (out, inp) in shapes {
            let (weight, widened) = Self.weight(format, out: out, inp: inp, rng: &rng)
            for rowCount in rows {
                let x = KernelReferenceTests.random(rowCount * inp, &rng)
                let expected = KernelReferenceTests.naiveMatmul(x, widened, rows: rowCount, out: out, inp: inp)
                for path in Self.paths {
                    let error = Self.maxError(Self.apply(weight, x, rows: rowCount, path: path), expected)
                    #expect(error < 1e-5 * Float(inp).squareRoot() + 1e-6,
                            "\(format) \(path) rows \(rowCount) out \(out) in \(inp): \(error)")
                }
            }
        }
    }

    @Test(arguments: [DenseFormat.f32, .f16, .bf16])
    func oddShapesOnBothPaths(format: DenseFormat) {
        let shapes = [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100].flatMap { inp in [1, 3, 5, 17, 37].map { (out: $0, inp: inp) } }
        Self.expectNaiveProduct(format, shapes: shapes, rows: 1...9, seed: 42)
    }

    /// 1–16 input rows over weights that span several cache blocks of 18 rows and end in partial tiles of one
    /// and two weight rows: the in-place tiles (up to four rows), the widened scratch blocks (f16/bf16 above
    /// four rows) and the shorter tiles for the last one to three rows.
    @Test(arguments: [DenseFormat.f32, .f16, .bf16])
    func upToSixteenRowsAcrossBlocks(format: DenseFormat) {
        Self.expectNaiveProduct(format, shapes: [(37, 40), (55, 23), (40, 64)], rows: 1...16, seed: 17)
    }

    /// Each output row of a several-row product is the same bits whatever rows share the call: a row computed
    /// alongside 1–15 others (in tiles of four, three, two or one) equals it computed in a batch of one tile
    /// height less, so batching streams never changes one stream's numbers by its position in the batch.
    @Test(arguments: [DenseFormat.f32, .f16, .bf16])
    func rowResultsDoNotDependOnTheBatch(format: DenseFormat) {
        var rng = Seeded(seed: 23)
        let out = 41, inp = 72
        let (weight, _) = Self.weight(format, out: out, inp: inp, rng: &rng)
        let x = KernelReferenceTests.random(16 * inp, &rng)
        for path in Self.paths {
            let all = Self.apply(weight, x, rows: 16, path: path)
            for rows in 2...15 {
                let some = Self.apply(weight, Array(x[0..<(rows * inp)]), rows: rows, path: path)
                #expect(some.map(\.bitPattern) == all[0..<(rows * out)].map(\.bitPattern), "\(format) \(path) rows \(rows)")
            }
        }
    }

    /// Large enough to be split across threads and to span several cache blocks of weight rows.
    @Test(arguments: [(1, 1000, 515), (7, 301, 2048), (16, 130, 96)])
    func threadedShapes(shape: (Int, Int, Int)) {
        let (rows, out, inp) = shape
        var rng = Seeded(seed: UInt64(out))
        for format in [DenseFormat.f32, .f16, .bf16] {
            let (weight, widened) = Self.weight(format, out: out, inp: inp, rng: &rng)
            let x = KernelReferenceTests.random(rows * inp, &rng)
            let expected = KernelReferenceTests.naiveMatmul(x, widened, rows: rows, out: out, inp: inp)
            for path in Self.paths {
                let error = Self.maxError(Self.apply(weight, x, rows: rows, path: path), expected)
                #expect(error < 1e-5 * Float(inp).squareRoot(), "\(format) \(path) \(shape): \(error)")
            }
        }
    }

    @Test func dotAndAxpyMatchDouble() {
        var rng = Seeded(seed: 5)
        for n in [0, 1, 7, 8, 15, 16, 17, 63, 64, 100, 1001] {
            let a = KernelReferenceTests.random(n, &rng), b = KernelReferenceTests.random(n, &rng)
            let exact = zip(a, b).map { Double($0) * Double($1) }.reduce(0, +)
            for path in Self.paths {
                let dot = dotF32(a, b, n, path: path)
                #expect(abs(Double(dot) - exact) < 1e-5 * Double(n + 1).squareRoot(), "dot \(path) n \(n)")
                var y = a
                axpyF32(&y, 0.75, b, n, path: path)
                for i in 0..<n { #expect(abs(Double(y[i]) - (Double(a[i]) + 0.75 * Double(b[i]))) < 1e-6) }
            }
            let halves = b.map(f32ToF16)
            let exactHalf = zip(a, halves).map { Double($0) * Double(f16ToF32($1)) }.reduce(0, +)
            let bf = b.map(f32ToBF16)
            let exactBF = zip(a, bf).map { Double($0) * Double(bf16ToF32($1)) }.reduce(0, +)
            for path in Self.paths {
                #expect(abs(Double(dotF16(a, halves, n, path: path)) - exactHalf) < 1e-5 * Double(n + 1).squareRoot())
                #expect(abs(Double(dotBF16(a, bf, n, path: path)) - exactBF) < 1e-5 * Double(n + 1).squareRoot())
            }
        }
    }

    @Test func everyHalfWidensLikeTheBitReference() {
        let bits = (0...UInt16.max).map { $0 }
        for path in Self.paths {
            var out = [Float](repeating: 0, count: bits.count)
            widenF16(bits, into: &out, count: bits.count, path: path)
            for (h, value) in zip(bits, out) {
                let reference = f16ToF32(h)
                #expect(value.bitPattern == reference.bitPattern || (value.isNaN && reference.isNaN), "\(path) bits \(h)")
            }
        }
    }

    /// Long context, head size not a multiple of 8, several query rows: vector and portable paths against Double.
    @Test func attentionOverLongContextOnBothPaths() {
        var rng = Seeded(seed: 99)
        let heads = 6, kvHeads = 2, headDim = 20, start = 150, rows = 3
        let length = start + rows
        let q = KernelReferenceTests.random(rows * heads * headDim, &rng)
        let k = KernelReferenceTests.random(length * kvHeads * headDim, &rng)
        let v = KernelReferenceTests.random(length * kvHeads * headDim, &rng)
        for path in Self.paths {
            var out = [Float](repeating: .nan, count: rows * heads * headDim)
            causalAttention(queries: q, keys: k, values: v, rows: rows, start: start, heads: heads, kvHeads: kvHeads,
                            headDim: headDim, output: &out, path: path)
            for r in 0..<rows {
                for h in 0..<heads {
                    let g = h / (heads / kvHeads)
                    let visible = start + r + 1
                    var scores = [Double](repeating: 0, count: visible)
                    for j in 0..<visible {
                        var dot = 0.0
                        for d in 0..<headDim {
                            let qi = (r * heads + h) * headDim + d, ki = (j * kvHeads + g) * headDim + d
                            dot += Double(q[qi]) * Double(k[ki])
                        }
                        scores[j] = dot / Double(headDim).squareRoot()
                    }
                    let m = scores.max()!
                    scores = scores.map { exp($0 - m) }
                    let total = scores.reduce(0, +)
                    for d in 0..<headDim {
                        var expected = 0.0
                        for j in 0..<visible { expected += scores[j] / total * Double(v[(j * kvHeads + g) * headDim + d]) }
                        let got = Double(out[(r * heads + h) * headDim + d])
                        #expect(abs(got - expected) < 1e-5, "\(path) r \(r) h \(h) d \(d)")
                    }
                }
            }
        }
    }
}

/// The persistent pool: every index exactly once, under repetition, nesting and concurrent callers.
@Suite struct ParallelPoolTests {
    @Test func chunksRespectGranularityAndCoverEverything() {
        for count in [1, 2, 3, 5, 17, 64, 1001] {
            for granularity in [1, 4, 16] {
                var seen = [Int](repeating: 0, count: count)
                var misaligned = false
                seen.withUnsafeMutableBufferPointer { buffer in
                    let base = buffer.baseAddress!
                    nonisolated(unsafe) var flag = false
                    Parallel.forRange(count, work: 1 << 24, granularity: granularity) { range in
                        if range.lowerBound % granularity != 0 { flag = true }
                        for i in range { base[i] += 1 }
                    }
                    misaligned = flag
                }
                #expect(seen.allSatisfy { $0 == 1 }, "count \(count) granularity \(granularity)")
                #expect(!misaligned)
            }
        }
    }

    @Test func manyBackToBackJobs() {
        var total = [Int](repeating: 0, count: 64)
        total.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            for _ in 0..<2000 { Parallel.forRange(64, work: 1 << 20) { range in for i in range { base[i] += 1 } } }
        }
        #expect(total.allSatisfy { $0 == 2000 })
    }

    @Test func nestedLoopsRunInline() {
        var seen = [Int](repeating: 0, count: 16 * 16)
        seen.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forRange(16, work: 1 << 20) { outer in
                for i in outer {
                    Parallel.forRange(16, work: 1 << 20) { inner in for j in inner { base[i * 16 + j] += 1 } }
                }
            }
        }
        #expect(seen.allSatisfy { $0 == 1 })
    }

    @Test func concurrentCallers() async {
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var seen = [Int](repeating: 0, count: 500)
                    for _ in 0..<200 {
                        seen.withUnsafeMutableBufferPointer { buffer in
                            let base = buffer.baseAddress!
                            Parallel.forRange(500, work: 1 << 20) { range in for i in range { base[i] += 1 } }
                        }
                    }
                    return seen.allSatisfy { $0 == 200 }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
