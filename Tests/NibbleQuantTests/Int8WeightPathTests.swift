import Testing
import NibbleKernels
import NibbleTestSupport
@testable import NibbleQuant

/// `Int8Weight.apply` (input prepared in C, u8×s8 product, outlier columns per output range) against the plain
/// Swift `forward`, bit for bit: 1–16 rows, row lengths not a multiple of 32, and a stored weight holding −128,
/// which must take the general product.
@Suite struct Int8WeightPathTests {
    let helpers = WeightApplyTests()

    func check(_ weight: Int8Weight, _ x: [Float], rows: Int, _ label: String) {
        let expected = x.withUnsafeBufferPointer { weight.forward($0.baseAddress!, rows: rows).output }
        for path in [KernelPath.vector, .avx2, .portable] {
            let y = helpers.apply(weight, x, rows: rows, path: path)
            #expect(y.map(\.bitPattern) == expected.map(\.bitPattern), "\(path) rows \(rows) \(label)")
        }
    }

    @Test(arguments: [33, 100, 577])
    func quantizedWeightMatchesForward(inF: Int) {
        let out = 45
        let w = helpers.random(out * inF, seed: UInt64(inF))
        for threshold: Float in [0, 6] {
            let weight = w.withUnsafeBufferPointer {
                Int8Weight(quantizing: $0, outFeatures: out, inFeatures: inF, threshold: threshold)
            }
            #expect(weight.isSymmetric)
            for rows in 1...16 {
                var x = helpers.random(rows * inF, seed: UInt64(rows * 31 + inF)).map { $0 * 3 }
                x[inF / 3] = 8.5  // outlier columns in the first and the last row
                x[(rows - 1) * inF + inF - 1] = -6
                check(weight, x, rows: rows, "threshold \(threshold) in \(inF)")
            }
        }
    }

    @Test func storedMinusOneTwentyEightTakesTheGeneralProduct() {
        let out = 21, inF = 70
        let w = helpers.random(out * inF, seed: 77)
        let quantized = w.withUnsafeBufferPointer { Int8Weight(quantizing: $0, outFeatures: out, inFeatures: inF) }
        var cb = quantized.cb
        for i in stride(from: 0, to: cb.count, by: 13) { cb[i] = -128 }  // as a stored checkpoint may hold
        let weight = Int8Weight(outFeatures: out, inFeatures: inF, cb: cb, scb: quantized.scb)
        #expect(!weight.isSymmetric)
        for rows in [1, 2, 3, 4, 7, 16] {
            var x = helpers.random(rows * inF, seed: UInt64(rows)).map { $0 * 2 }
            x[5] = 7  // an outlier column
            check(weight, x, rows: rows, "with -128")
        }
    }
}
