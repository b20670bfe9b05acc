import Foundation
import Testing
import NibbleKernels
import NibbleTestSupport
@testable import NibbleQuant

/// The fused matmuls against a plain reference: dequantize fully, then a naive matmul.
@Suite struct WeightApplyTests {
    func naive(_ w: [Float], _ x: [Float], rows: Int, out: Int, inF: Int) -> [Float] {
        var y = [Float](repeating: 0, count: rows * out)
        for r in 0..<rows { for o in 0..<out {
            var acc: Float = 0
            for j in 0..<inF { acc += x[r * inF + j] * w[o * inF + j] }
            y[r * out + o] = acc
        } }
        return y
    }

    func random(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2000) / 1000
        }
    }

    @Test(arguments: [FourBitQuantType.nf4, .fp4], [ComputeDType.float32, .float16, .bfloat16])
    func fourBitApply(type: FourBitQuantType, dtype: ComputeDType) {
        let out = 24, inF = 160, rows = 3
        let w = random(out * inF, seed: 1), x = random(rows * inF, seed: 2)
        let weight = w.withUnsafeBufferPointer {
            FourBitWeight(quantizing: $0, outFeatures: out, inFeatures: inF, quantType: type, doubleQuant: true, computeDType: dtype)
        }
        let y = weight.apply(x, rows: rows)
        let ref = naive(weight.dequantized(), x.map(dtype.round), rows: rows, out: out, inF: inF)
        #expect(y == ref)  // same per-row summation order, so exact
        #expect(weight.formatName == "\(type.rawValue)+dq")
    }

    @Test func int8ApplyNoOutliers() {
        let out = 16, inF = 64, rows = 4
        let w = random(out * inF, seed: 3), x = random(rows * inF, seed: 4)
        let weight = w.withUnsafeBufferPointer { Int8Weight(quantizing: $0, outFeatures: out, inFeatures: inF, threshold: 0) }
        let y = weight.apply(x, rows: rows)
        let ref = naive(weight.dequantized(), x.map(roundToF16), rows: rows, out: out, inF: inF)
        for i in y.indices { #expect(abs(y[i] - ref[i]) <= 0.05 * max(1, abs(ref[i]))) }  // int8 activation error
        #expect(weight.storageBytes == out * inF + out * 4)
    }

    @Test func bitsPerParameter() {
        let w = random(4096 * 64, seed: 5)
        let weight = w.withUnsafeBufferPointer {
            FourBitWeight(quantizing: $0, outFeatures: 4096, inFeatures: 64, quantType: .nf4, doubleQuant: true)
        }
        // 4 + 8/64 + 32/(64*256) bits, plus the fixed maps (64 B + 1024 B + 4 B offset).
        #expect(weight.storageBytes == 4096 * 32 + 4096 + 16 * 4 + 16 * 4 + 1024 + 4)
    }
}
