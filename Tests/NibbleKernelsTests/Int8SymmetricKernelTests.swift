import NibbleKernels
import NibbleTestSupport
import Testing

/// The int8 product for weights without −128 (the u8×s8 path) against the plain Swift sum: exact at 1–16 rows,
/// rows whose length is not a multiple of 32, activations over the whole int8 range (−128 included).
@Suite struct Int8SymmetricKernelTests {
    static let paths: [KernelPath] = [.vector, .avx2, .portable]

    /// Weights in [−127, 127], the extremes on the first lanes.
    static func symmetricWeights(_ count: Int, _ rng: inout SeededRandom) -> [Int8] {
        var b = (0..<count).map { _ in Int8(truncatingIfNeeded: rng.next() % 255) &- 127 }
        for i in 0..<min(count, 40) { b[i] = i % 2 == 0 ? -127 : 127 }
        return b
    }

    @Test(arguments: [1, 31, 33, 64, 100, 577, 2049])
    func sumsAreExactAtOneToSixteenRows(inner: Int) {
        var rng = SeededRandom(seed: UInt64(inner))
        let out = 19
        let b = Self.symmetricWeights(out * inner, &rng)
        for rows in 1...16 {
            var a = QuantizedKernelTests.randomInt8(rows * inner, &rng)
            // Worst case for the int16 pair sums: |a| = 128 against |b| = 127 on adjacent lanes.
            for i in 0..<min(inner, 40) { a[i] = i % 2 == 0 ? -128 : 127 }
            let expected = QuantizedKernelTests.referenceInt32(a, b, rows: rows, out: out, inner: inner)
            for path in Self.paths {
                #expect(QuantizedKernelTests.int32(a, b, rows: rows, out: out, inner: inner, path: path,
                                                  weightSymmetric: true) == expected,
                        "\(path) rows \(rows) in \(inner)")
            }
        }
    }

    @Test func dequantizedProductMatchesFormulaBitForBit() {
        var rng = SeededRandom(seed: 21)
        let out = 29, inner = 577, k = Float(bitPattern: 0x3882_06AA)
        let b = Self.symmetricWeights(out * inner, &rng)
        let colScale = KernelReferenceTests.random(out, &rng)
        for rows in [1, 2, 3, 4, 5, 8, 13, 16] {
            let a = QuantizedKernelTests.randomInt8(rows * inner, &rng)
            let rowScale = KernelReferenceTests.random(rows, &rng)
            let sums = QuantizedKernelTests.referenceInt32(a, b, rows: rows, out: out, inner: inner)
            for path in Self.paths {
                let y = QuantizedKernelTests.dequantized(a, b, rows: rows, out: out, inner: inner, rowScale: rowScale,
                                                         colScale: colScale, k: k, ranges: [0..<7, 7..<out],
                                                         weightSymmetric: true, path: path)
                for r in 0..<rows {
                    for o in 0..<out {
                        let expected = (Float(sums[r * out + o]) * (rowScale[r] * colScale[o])) * k
                        #expect(y[r * out + o].bitPattern == expected.bitPattern, "\(path) rows \(rows) [\(r), \(o)]")
                    }
                }
            }
        }
    }

    @Test func symmetryCheckFindsMinusOneTwentyEight() {
        var codes: [Int8] = [0, 127, -127, 5]
        #expect(codes.withUnsafeBufferPointer { Int8Kernels.isSymmetric($0) })
        codes[2] = -128
        #expect(!codes.withUnsafeBufferPointer { Int8Kernels.isSymmetric($0) })
    }
}
