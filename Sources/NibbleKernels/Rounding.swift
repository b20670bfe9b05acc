import CNibbleKernels

/// A float format values are rounded to (round to nearest even) and widened back to float32, as a cast to
/// that dtype and back does.
public enum FloatRounding: Sendable {
    case f32, f16, bf16

    var format: nibble_round_format {
        switch self {
        case .f32: return NIBBLE_ROUND_F32
        case .f16: return NIBBLE_ROUND_F16
        case .bf16: return NIBBLE_ROUND_BF16
        }
    }

    /// dst = src rounded to this format, over `count` values (`src` may equal `dst`); the same bits as
    /// `roundToF16` / `roundToBF16` on every path.
    public func round(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int,
                      path: KernelPath = .current) {
        guard count > 0 else { return }
        if self == .f32 {
            if UnsafePointer(dst) != src { dst.update(from: src, count: count) }
            return
        }
        nibble_round_f32(path.implementation, format, src, dst, count)
    }
}
