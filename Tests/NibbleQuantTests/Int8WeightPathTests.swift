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

    /// The input preparation on every path against the plain Swift forward's intermediates (quantized rows, row
    /// absmax, outlier columns), with the values the vector passes must treat like the scalar ones: NaN, ±∞, −0,
    /// entries exactly at the threshold, values that round to it in fp16, a row that is all outliers (absmax 0),
    /// and row lengths with a tail after the last whole vector.
    @Test(arguments: [8, 33, 64, 577])
    func preparedInputMatchesForward(inF: Int) {
        let weight = helpers.random(3 * inF, seed: 5).withUnsafeBufferPointer {
            Int8Weight(quantizing: $0, outFeatures: 3, inFeatures: inF)
        }
        let specials: [Float] = [.nan, .infinity, -.infinity, -0.0, 6, -6, 5.9999, 6.0001, 1e6, 65520, -3]
        for rows in 1...16 {
            var x = helpers.random(rows * inF, seed: UInt64(rows * 7 + inF)).map { $0 * 4 }
            for (i, v) in specials.enumerated() { x[(i * 37 + rows) % x.count] = v }
            if rows > 2 { for c in 0..<inF { x[inF + c] = c % 2 == 0 ? 7 : -0.0 } }  // row 1: outliers and zeros
            for threshold: Float in [0, 6] {
                let expected = x.withUnsafeBufferPointer {
                    Int8Weight(outFeatures: 3, inFeatures: inF, cb: weight.cb, scb: weight.scb, threshold: threshold)
                        .forward($0.baseAddress!, rows: rows)
                }
                for path in [KernelPath.vector, .avx2, .portable] {
                    var xh = [Float](repeating: 0, count: rows * inF)  // (rows, in)
                    var q = [Int8](repeating: 1, count: rows * inF)  // (rows, in)
                    var absmax = [Float](repeating: 1, count: rows)  // (rows)
                    var cols = [Int32](repeating: 0, count: inF)  // (in)
                    let count = x.withUnsafeBufferPointer { xp in
                        Int8Kernels.prepareInput(xp.baseAddress!, rows: rows, cols: inF, threshold: threshold,
                                                 rounded: &xh, quantized: &q, absmax: &absmax, outlierColumns: &cols,
                                                 path: path)
                    }
                    let label = "\(path) rows \(rows) in \(inF) threshold \(threshold)"
                    #expect(cols.prefix(count).map(Int.init) == expected.outlierColumns, "\(label)")
                    #expect(q == expected.ca, "\(label)")
                    #expect(absmax.map(\.bitPattern) == expected.sca.map(\.bitPattern), "\(label)")
                    #expect(zip(xh, x).allSatisfy { h, v in
                        let r = roundToF16(v)
                        return h.bitPattern == r.bitPattern || (h.isNaN && r.isNaN)
                    }, "\(label)")
                }
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
