/// The element type keys and values are stored in (`kv_cache_dtype`). Attention always computes in float32;
/// half-precision elements are widened on the fly.
public enum KVCacheDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float16, bfloat16

    /// Bytes per stored element.
    public var byteWidth: Int { self == .float32 ? 4 : 2 }

    public var description: String { rawValue }
}
