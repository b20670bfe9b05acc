/// Element types a safetensors file may hold (the subset LLaMA checkpoints and bitsandbytes use, plus wider ints).
public enum DType: String, Sendable, CaseIterable, Codable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool { [.f64, .f32, .f16, .bf16].contains(self) }

    /// The lower-case name used in reports ("f16", "bf16" …).
    public var shortName: String { rawValue.lowercased() }
}
