import NibbleKernels
import Testing

/// Bit-level half/bfloat16 conversions against the platform's own Float16 where it exists.
@Suite struct HalfPrecisionTests {
    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    @Test func everyHalfWidensExactly() {
        for bits in 0...UInt16.max {
            let ours = f16ToF32(bits)
            let platform = Float(Float16(bitPattern: bits))
            #expect(ours.bitPattern == platform.bitPattern || (ours.isNaN && platform.isNaN), "bits \(bits)")
        }
    }

    @Test func narrowingRoundsToNearestEven() {
        var generator = SystemRandomNumberGenerator()
        var samples: [Float] = [0, -0, 1, 65504, 65520, 65519.99, 1e-8, 5.96e-8, 2.98e-8, 2.99e-8, 6.1e-5, -3.1415926, .infinity, -.infinity]
        for _ in 0..<200_000 { samples.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &generator))) }
        for x in samples where !x.isNaN {
            #expect(f32ToF16(x) == Float16(x).bitPattern, "\(x)")
        }
        #expect(f16ToF32(f32ToF16(.nan)).isNaN)
    }
    #endif

    @Test func bfloat16RoundsToNearestEven() {
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to the even mantissa (1.0).
        #expect(f32ToBF16(1 + 1.0 / 256) == 0x3F80)
        #expect(f32ToBF16(1 + 3.0 / 256) == 0x3F82)
        #expect(bf16ToF32(0x3F80) == 1)
        #expect(roundToBF16(0.1) == Float(bitPattern: 0x3DCD_0000))
        #expect(f32ToBF16(.nan) & 0x7FC0 == 0x7FC0)
    }
}
