import NibbleKernels
import NibbleTestSupport
import Testing

/// Every fast kernel against a plain, obviously-correct version computed in Double.
@Suite struct KernelReferenceTests {
    typealias Seeded = SeededRandom

    static func random(_ count: Int, _ rng: inout Seeded) -> [Float] {
        (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }
    }

    /// y = x Wᵀ in Double.
    static func naiveMatmul(_ x: [Float], _ w: [Float], rows: Int, out: Int, inp: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * out)
        for r in 0..<rows {
            for o in 0..<out {
                var sum = 0.0
                for i in 0..<inp { sum += Double(x[r * inp + i]) * Double(w[o * inp + i]) }
                y[r * out + o] = Float(sum)
            }
        }
        return y
    }

    @Test(arguments: [(1, 7, 13), (3, 64, 96), (5, 300, 257), (2, 1024, 512)])
    func denseFormats(shape: (Int, Int, Int)) {
        let (rows, out, inp) = shape
        var rng = Seeded(seed: UInt64(rows * 1000 + out))
        let x = Self.random(rows * inp, &rng)
        let w32 = Self.random(out * inp, &rng)
        let f16Bits = w32.map(f32ToF16)
        let bf16Bits = w32.map(f32ToBF16)
        let cases: [(DenseWeight, [Float])] = [
            (DenseWeight(f32: w32, outFeatures: out, inFeatures: inp), w32),
            (f16Bits.withUnsafeBytes { DenseWeight(copying: $0, format: .f16, outFeatures: out, inFeatures: inp) }, f16Bits.map(f16ToF32)),
            (bf16Bits.withUnsafeBytes { DenseWeight(copying: $0, format: .bf16, outFeatures: out, inFeatures: inp) }, bf16Bits.map(bf16ToF32)),
        ]
        for (weight, widened) in cases {
            #expect(weight.floats() == widened)
            let expected = Self.naiveMatmul(x, widened, rows: rows, out: out, inp: inp)
            let ours = weight.apply(x, rows: rows)
            let error = zip(ours, expected).map { abs($0 - $1) }.max() ?? 0
            // Float32 accumulation of up to 1024 products of magnitude ≤ 1.
            #expect(error < 1e-4 * Float(inp).squareRoot(), "\(weight.formatName) \(shape): \(error)")
        }
    }

    @Test func rmsNormMatchesDefinition() {
        var rng = Seeded(seed: 7)
        let dim = 96, rows = 3
        let x = Self.random(rows * dim, &rng), gain = Self.random(dim, &rng)
        var y = [Float](repeating: 0, count: rows * dim)
        rmsNorm(x, weight: gain, eps: 1e-5, rows: rows, dim: dim, into: &y)
        for r in 0..<rows {
            let row = x[(r * dim)..<((r + 1) * dim)].map(Double.init)
            let scale = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(dim) + 1e-5).squareRoot()
            for i in 0..<dim { #expect(abs(Double(y[r * dim + i]) - Double(gain[i]) * row[i] * scale) < 1e-5) }
        }
    }

    @Test func ropeRotatesHalves() {
        let rope = RotaryEmbedding(headDim: 8, theta: 10000)
        var v: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
        let original = v
        rope.apply(&v, heads: 1, position: 3)
        for i in 0..<4 {
            let angle = 3 * Foundation_pow(10000, -Double(2 * i) / 8)
            let a = Double(original[i]), b = Double(original[i + 4])
            #expect(abs(Double(v[i]) - (a * cos(angle) - b * sin(angle))) < 1e-5)
            #expect(abs(Double(v[i + 4]) - (b * cos(angle) + a * sin(angle))) < 1e-5)
        }
        // Position 0 is the identity.
        var w = original
        rope.apply(&w, heads: 1, position: 0)
        #expect(w == original)
    }

    @Test func attentionMatchesNaiveCausalGQA() {
        var rng = Seeded(seed: 11)
        let heads = 4, kvHeads = 2, headDim = 8, start = 3, rows = 2
        let length = start + rows
        let q = Self.random(rows * heads * headDim, &rng)
        let k = Self.random(length * kvHeads * headDim, &rng), v = Self.random(length * kvHeads * headDim, &rng)
        var out = [Float](repeating: 0, count: rows * heads * headDim)
        causalAttention(queries: q, keys: k, values: v, rows: rows, start: start, heads: heads, kvHeads: kvHeads,
                        headDim: headDim, output: &out)
        for r in 0..<rows {
            for h in 0..<heads {
                let g = h / (heads / kvHeads)
                let visible = start + r + 1
                var scores: [Double] = []
                for j in 0..<visible {
                    var dot = 0.0
                    for d in 0..<headDim {
                        let qi = (r * heads + h) * headDim + d, ki = (j * kvHeads + g) * headDim + d
                        dot += Double(q[qi]) * Double(k[ki])
                    }
                    scores.append(dot / Double(headDim).squareRoot())
                }
                let m = scores.max()!
                scores = scores.map { exp($0 - m) }
                let total = scores.reduce(0, +)
                for d in 0..<headDim {
                    var expected = 0.0
                    for j in 0..<visible { expected += scores[j] / total * Double(v[(j * kvHeads + g) * headDim + d]) }
                    #expect(abs(Double(out[(r * heads + h) * headDim + d]) - expected) < 1e-5)
                }
            }
        }
    }

    @Test func parallelRangeCoversEveryIndexOnce() {
        var seen = [Int](repeating: 0, count: 1000)
        seen.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forRange(1000, work: 1 << 20) { range in for i in range { base[i] += 1 } }
        }
        #expect(seen.allSatisfy { $0 == 1 })
    }
}

import Foundation
private func Foundation_pow(_ a: Double, _ b: Double) -> Double { pow(a, b) }
