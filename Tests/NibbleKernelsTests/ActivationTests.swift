import Foundation
import NibbleKernels
import NibbleTestSupport
import Testing

/// The SwiGLU gate silu(g) · u against the same formula in Double, on both kernel paths: finite inputs across
/// the range where it is not trivially 0 or g · u, the saturated ends, signed zeros, infinities and NaN.
@Suite struct ActivationTests {
    @Test(arguments: [KernelPath.avx2, .portable])
    func siluMultiplyMatchesDouble(path: KernelPath) {
        var random = SeededRandom(seed: 0x5EED_5117)
        var gate: [Float] = (0..<4_099).map { _ in Float.random(in: -30...30, using: &random) }
        var up: [Float] = (0..<4_099).map { _ in Float.random(in: -2...2, using: &random) }
        let special: [Float] = [0, -0, 1e-30, -1e-30, 88, -88, 89, -89, 104, -104, 1e30, -1e30, .infinity, -.infinity, .nan]
        gate += special
        up += special.map { _ in 1.5 }
        let inputs = gate
        siluMultiplyF32(&gate, up, count: gate.count, path: path)
        var worst = 0.0, worstInput: Float = 0
        for (i, g) in inputs.enumerated() {
            let exact = Double(g) / (1 + exp(-Double(g))) * Double(up[i])
            let got = gate[i]
            if exact.isNaN {
                #expect(got.isNaN, "\(path.name): silu(\(g)) · \(up[i]) = \(got)")
                continue
            }
            if exact.isInfinite {
                #expect(got == Float(exact), "\(path.name): silu(\(g)) · \(up[i]) = \(got)")
                continue
            }
            if abs(exact) < 1e-30 {
                // Below e^−88.7 the float exponential of −g overflows and the gate is a signed zero: an absolute
                // error under 1e-30, as in the plain float formula.
                #expect(abs(got) < 1e-30, "\(path.name): silu(\(g)) · \(up[i]) = \(got), not \(exact)")
                continue
            }
            // Relative to one float ulp of the exact value (the exponential's 1 ulp, a divide and a multiply).
            let ulp = max(Double(Float(exact).ulp), Double(Float.leastNonzeroMagnitude))
            let error = abs(Double(got) - exact) / ulp
            if error > worst { (worst, worstInput) = (error, g) }
        }
        #expect(worst <= 3, "\(path.name): \(worst) ulp at gate \(worstInput)")
    }
}
