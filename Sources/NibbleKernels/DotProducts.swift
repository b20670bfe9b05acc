import CNibbleKernels

/// Dot products of a float32 activation row with a weight row in each stored float format.
/// The work happens in the C kernels (vector code chosen at run time); the order of additions is fixed
/// for a given path and length, so results repeat.

/// Σ a[i]·b[i] over `n` float32 values.
@inlinable
public func dotF32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, path: KernelPath = .current) -> Float {
    nibble_dot_f32(path.implementation, a, b, n)
}

/// Σ x[i]·w[i] where w holds IEEE half bits.
@inlinable
public func dotF16(_ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>, _ n: Int, path: KernelPath = .current) -> Float {
    var y: Float = 0
    nibble_matmul(path.implementation, NIBBLE_WEIGHT_F16, x, 1, n, w, n, 0, 1, &y, 1)
    return y
}

/// Σ x[i]·w[i] where w holds bfloat16 bits.
@inlinable
public func dotBF16(_ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>, _ n: Int, path: KernelPath = .current) -> Float {
    var y: Float = 0
    nibble_matmul(path.implementation, NIBBLE_WEIGHT_BF16, x, 1, n, w, n, 0, 1, &y, 1)
    return y
}

/// y[i] += alpha · x[i] over `n` float32 values.
@inlinable
public func axpyF32(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int,
                    path: KernelPath = .current) {
    nibble_axpy_f32(path.implementation, y, alpha, x, n)
}

/// Widens `n` IEEE half values to float32.
@inlinable
public func widenF16(_ source: UnsafePointer<UInt16>, into destination: UnsafeMutablePointer<Float>, count n: Int,
                     path: KernelPath = .current) {
    nibble_f16_to_f32(path.implementation, source, destination, n)
}

/// Widens `n` bfloat16 values to float32.
@inlinable
public func widenBF16(_ source: UnsafePointer<UInt16>, into destination: UnsafeMutablePointer<Float>, count n: Int,
                      path: KernelPath = .current) {
    nibble_bf16_to_f32(path.implementation, source, destination, n)
}

/// Narrows `n` float32 values to IEEE half bits, as `f32ToF16` does one value.
@inlinable
public func narrowF16(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>, count n: Int,
                      path: KernelPath = .current) {
    nibble_f32_to_f16(path.implementation, source, destination, n)
}

/// Narrows `n` float32 values to bfloat16 bits, as `f32ToBF16` does one value.
@inlinable
public func narrowBF16(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>, count n: Int,
                       path: KernelPath = .current) {
    nibble_f32_to_bf16(path.implementation, source, destination, n)
}
