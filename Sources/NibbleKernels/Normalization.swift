/// RMSNorm as LLaMA defines it: y = x / sqrt(mean(x²) + eps) · weight, computed in float32.
///
/// - Parameters:
///   - x: input `(rows, dim)`.
///   - weight: gain `(dim)`.
///   - y: output `(rows, dim)`; may alias `x`.
@inlinable
public func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float, rows: Int, dim: Int,
                    into y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * dim
        let meanSquare = dotF32(xr, xr, dim) / Float(dim)
        let scale = 1 / (meanSquare + eps).squareRoot()
        let yr = y + r * dim
        for i in 0..<dim { yr[i] = weight[i] * (xr[i] * scale) }
    }
}

/// Numerically stable softmax over `n` values in place.
@inlinable
public func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    var maximum = -Float.infinity
    for i in 0..<n { maximum = max(maximum, x[i]) }
    var sum: Float = 0
    for i in 0..<n {
        let e = expf(x[i] - maximum)
        x[i] = e
        sum += e
    }
    let inverse = 1 / sum
    for i in 0..<n { x[i] *= inverse }
}

/// SwiGLU gate: gate[i] = silu(gate[i]) · up[i] over `n` values (the vector exponential of `expF32`).
/// Split across threads for prefill, where `n` is rows × ffn and the exponentials add up.
public func siluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    // About four multiply-add equivalents per element with eight lanes (the exponential's polynomial and a divide).
    Parallel.forRange(n, work: n * 4, granularity: 64) { range in
        siluMultiplyF32(gate + range.lowerBound, up + range.lowerBound, count: range.count)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
