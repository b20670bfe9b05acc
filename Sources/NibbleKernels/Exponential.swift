import CNibbleKernels

/// y[i] = eˣ⁽ⁱ⁾ for `n` float32 values, with the exponential attention's softmax uses: within 1 ulp of the
/// correctly rounded result over the whole float range (0 below −103.97, +inf above 88.72, NaN kept), exactly 1
/// at 0. The vector path computes eight at a time.
public func expF32(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int,
                   path: KernelPath = .current) {
    nibble_exp_f32(path.implementation, x, y, n)
}

/// gate[i] = silu(gate[i]) · up[i] = gate[i] / (1 + e^−gate[i]) · up[i] for `n` float32 values (the SwiGLU gate),
/// with the exponential of `expF32`, on one thread.
public func siluMultiplyF32(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count n: Int,
                            path: KernelPath = .current) {
    nibble_silu_mul_f32(path.implementation, gate, up, n)
}
