import NibbleKernels
import NibbleTestSupport
import Testing

/// The vector narrowing and widening kernels the KV cache uses give the bits of the one-value conversions
/// (themselves checked against the platform's Float16 and torch's bfloat16 rounding in `HalfPrecisionTests`).
@Suite struct ConversionKernelTests {
    static let paths: [KernelPath] = [.vector, .avx2, .portable]

    /// Seeded random bit patterns (every class: normals, subnormals, infinities, NaNs) plus the edge cases of
    /// both formats: ties to even, the largest half, values that overflow or underflow a half. 1 003 values, so
    /// the vector loops' tails run too.
    static let samples: [Float] = {
        var rng = SeededRandom(seed: 2026)
        var values: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e-8, 5.96e-8, 2.98e-8, 2.99e-8, 6.1e-5,
                               1 + 1.0 / 2048, 1 + 3.0 / 2048, 1 + 1.0 / 256, 1 + 3.0 / 256, .infinity, -.infinity,
                               .nan, Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFFC0_1234),
                               .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        while values.count < 1003 { values.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))) }
        return values
    }()

    @Test func narrowingToHalfMatchesTheOneValueConversion() {
        let values = Self.samples
        for path in Self.paths {
            var out = [UInt16](repeating: 0, count: values.count)
            narrowF16(values, into: &out, count: values.count, path: path)
            for (value, bits) in zip(values, out) {
                #expect(bits == f32ToF16(value), "\(path) \(value.bitPattern)")
            }
        }
    }

    @Test func narrowingToBFloat16MatchesTheOneValueConversion() {
        let values = Self.samples
        for path in Self.paths {
            var out = [UInt16](repeating: 0, count: values.count)
            narrowBF16(values, into: &out, count: values.count, path: path)
            for (value, bits) in zip(values, out) {
                #expect(bits == f32ToBF16(value), "\(path) \(value.bitPattern)")
            }
        }
    }

    @Test func everyBFloat16WidensExactly() {
        let bits = (0...UInt16.max).map { $0 }
        for path in Self.paths {
            var out = [Float](repeating: 0, count: bits.count)
            widenBF16(bits, into: &out, count: bits.count, path: path)
            for (b, value) in zip(bits, out) {
                #expect(value.bitPattern == bf16ToF32(b).bitPattern, "\(path) bits \(b)")
            }
        }
    }
}
