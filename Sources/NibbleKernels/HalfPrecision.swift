/// IEEE half and bfloat16 conversions done on bits, so they behave the same on every platform
/// (Swift's `Float16` is missing on Intel macOS).

/// Widens IEEE binary16 bits to Float (exact).
@inlinable
public func f16ToF32(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x03FF)
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        // Subnormal half: value = mantissa * 2^-24, exactly representable in f32.
        let magnitude = Float(mantissa) * 5.9604644775390625e-08
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// Narrows Float to IEEE binary16 bits with round-to-nearest-even (as torch's `.half()`).
@inlinable
public func f32ToF16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    var mantissa = bits & 0x007F_FFFF
    if exponent == 0xFF {  // inf or nan; keep nan quiet
        return sign | 0x7C00 | (mantissa != 0 ? 0x0200 | UInt16(mantissa >> 13) : 0)
    }
    let halfExponent = exponent - 127 + 15
    if halfExponent >= 0x1F { return sign | 0x7C00 }  // overflow → inf
    if halfExponent <= 0 {
        // Subnormal or zero in half precision.
        if halfExponent < -10 { return sign }
        mantissa |= 0x0080_0000
        let shift = UInt32(14 - halfExponent)
        let truncated = mantissa >> shift
        let remainder = mantissa & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        var result = truncated
        if remainder > halfway || (remainder == halfway && (truncated & 1) == 1) { result += 1 }
        return sign | UInt16(result)
    }
    var result = UInt32(halfExponent) << 10 | (mantissa >> 13)
    let remainder = mantissa & 0x1FFF
    if remainder > 0x1000 || (remainder == 0x1000 && (result & 1) == 1) { result += 1 }  // may carry into exponent: correct
    return sign | UInt16(result)
}

/// Widens bfloat16 bits to Float (exact).
@inlinable
public func bf16ToF32(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

/// Narrows Float to bfloat16 bits with round-to-nearest-even (as torch's `.bfloat16()`).
@inlinable
public func f32ToBF16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
    let rounding = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}

/// Rounds a Float to the nearest f16 value and back (what a cast to half and back does).
@inlinable
public func roundToF16(_ value: Float) -> Float { f16ToF32(f32ToF16(value)) }

/// Rounds a Float to the nearest bf16 value and back.
@inlinable
public func roundToBF16(_ value: Float) -> Float { bf16ToF32(f32ToBF16(value)) }
