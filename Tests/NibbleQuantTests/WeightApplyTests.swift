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
        // Exact weights and inputs; only the order of the float sums differs.
        for i in y.indices { #expect(abs(y[i] - ref[i]) <= 1e-5 * max(1, abs(ref[i])), "\(i): \(y[i]) vs \(ref[i])") }
        #expect(weight.formatName == "\(type.rawValue)+dq")
    }

    func apply(_ weight: some LinearWeight, _ x: [Float], rows: Int, path: KernelPath) -> [Float] {
        var y = [Float](repeating: .nan, count: rows * weight.outFeatures)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                if let w = weight as? FourBitWeight { w.apply(xp.baseAddress!, rows: rows, into: yp.baseAddress!, path: path) }
                if let w = weight as? Int8Weight { w.apply(xp.baseAddress!, rows: rows, into: yp.baseAddress!, path: path) }
            }
        }
        return y
    }

    /// Odd shapes (rows straddling absmax blocks, rows starting on a low nibble), plain and double-quantized
    /// absmax, both kernel paths, one and several input rows.
    @Test(arguments: [FourBitQuantType.nf4, .fp4], [ComputeDType.float32, .float16, .bfloat16])
    func fourBitOddShapesOnBothPaths(type: FourBitQuantType, dtype: ComputeDType) {
        for (out, inF) in [(1, 1), (3, 7), (5, 37), (7, 64), (9, 129), (33, 300)] {
            let w = random(out * inF, seed: UInt64(out * inF))
            for doubleQuant in [false, true] {
                let weight = w.withUnsafeBufferPointer {
                    FourBitWeight(quantizing: $0, outFeatures: out, inFeatures: inF, quantType: type,
                                  doubleQuant: doubleQuant, computeDType: dtype)
                }
                let dequantized = weight.dequantized()
                for rows in [1, 4, 6] {
                    let x = random(rows * inF, seed: UInt64(rows))
                    let ref = naive(dequantized, x.map(dtype.round), rows: rows, out: out, inF: inF)
                    for path in [KernelPath.vector, .avx2, .portable] {
                        let y = apply(weight, x, rows: rows, path: path)
                        for i in y.indices {
                            #expect(abs(y[i] - ref[i]) <= 1e-5 * max(1, abs(ref[i])),
                                    "\(path) dq \(doubleQuant) rows \(rows) \(out)x\(inF) [\(i)]: \(y[i]) vs \(ref[i])")
                        }
                    }
                }
            }
        }
    }

    /// The fast path gives `forward`'s output bit for bit: with and without outlier columns, one input row
    /// (outliers zeroed element-wise) and several (whole outlier columns zeroed), on both kernel paths.
    @Test(arguments: [1, 2, 5])
    func int8ApplyMatchesForwardBitForBit(rows: Int) {
        for (out, inF) in [(1, 1), (5, 17), (16, 64), (37, 300), (300, 515)] {
            let w = random(out * inF, seed: UInt64(out + inF))
            var x = random(rows * inF, seed: UInt64(rows * 7 + inF)).map { $0 * 3 }
            if inF > 3 {
                x[min(3, inF - 1)] = 9.5  // an outlier in row 0
                x[(rows - 1) * inF + inF / 2] = -7  // and one in the last row
            }
            for threshold: Float in [0, 6] {
                let weight = w.withUnsafeBufferPointer {
                    Int8Weight(quantizing: $0, outFeatures: out, inFeatures: inF, threshold: threshold)
                }
                let expected = x.withUnsafeBufferPointer { weight.forward($0.baseAddress!, rows: rows).output }
                for path in [KernelPath.vector, .avx2, .portable] {
                    let y = apply(weight, x, rows: rows, path: path)
                    #expect(y.map(\.bitPattern) == expected.map(\.bitPattern),
                            "\(path) threshold \(threshold) rows \(rows) \(out)x\(inF)")
                }
            }
        }
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
