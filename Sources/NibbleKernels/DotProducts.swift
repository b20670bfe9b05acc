/// Dot products of a float32 activation row with a weight row in each stored float format.
/// Eight independent SIMD accumulators hide FMA latency; the order of additions is fixed, so results repeat.

/// Σ a[i]·b[i] over `n` float32 values.
@inlinable
public func dotF32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 16 <= n {
        acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        acc1 += ra.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self)
            * rb.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self)
        i += 16
    }
    var sum = (acc0 + acc1).sum()
    while i < n {
        sum += a[i] * b[i]
        i += 1
    }
    return sum
}

/// Σ x[i]·w[i] where w holds IEEE half bits.
@inlinable
public func dotF16(_ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    let rx = UnsafeRawPointer(x)
    while i + 8 <= n {
        let xs = rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        var ws = SIMD8<Float>()
        for k in 0..<8 { ws[k] = f16ToF32(w[i + k]) }
        acc += xs * ws
        i += 8
    }
    var sum = acc.sum()
    while i < n {
        sum += x[i] * f16ToF32(w[i])
        i += 1
    }
    return sum
}

/// Σ x[i]·w[i] where w holds bfloat16 bits.
@inlinable
public func dotBF16(_ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    let rx = UnsafeRawPointer(x)
    while i + 8 <= n {
        let xs = rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        let raw = UnsafeRawPointer(w + i).loadUnaligned(as: SIMD8<UInt16>.self)
        let ws = unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: raw) &<< 16, to: SIMD8<Float>.self)
        acc += xs * ws
        i += 8
    }
    var sum = acc.sum()
    while i < n {
        sum += x[i] * bf16ToF32(w[i])
        i += 1
    }
    return sum
}
