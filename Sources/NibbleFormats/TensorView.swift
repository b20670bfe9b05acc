import NibbleKernels

/// One tensor inside a mapped safetensors file: metadata plus a view of its bytes (no copy).
public struct TensorView: Sendable {
    public let name: String
    public let dtype: DType
    /// Dimensions, outermost first (row-major).
    public let shape: [Int]
    /// Keeps the mapping alive as long as the view exists.
    public let file: MappedFile
    /// Byte range of the data inside `file`.
    public let byteRange: Range<Int>

    /// A view of `byteRange` in `file` holding a `dtype` tensor of `shape` (the caller checks the sizes agree).
    public init(name: String, dtype: DType, shape: [Int], file: MappedFile, byteRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.file = file
        self.byteRange = byteRange
    }

    /// Number of elements (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// The raw bytes, valid while this view (and so its file) is alive.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[byteRange])
    }

    /// Values widened to Float32 (F32, F16, BF16, and integer types converted numerically).
    public func floats() -> [Float] {
        let n = elementCount
        let raw = bytes
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            switch dtype {
            case .f32:
                for i in 0..<n { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
            case .f16:
                for i in 0..<n { out[i] = f16ToF32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            case .bf16:
                for i in 0..<n { out[i] = bf16ToF32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            case .f64:
                for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            case .i64:
                for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            case .i32:
                for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            case .i16:
                for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
            case .i8:
                for i in 0..<n { out[i] = Float(raw.load(fromByteOffset: i, as: Int8.self)) }
            case .u8, .bool:
                for i in 0..<n { out[i] = Float(raw[i]) }
            }
            initialized = n
        }
    }

    /// A copy of the raw bytes.
    public func data() -> [UInt8] { Array(bytes) }
}
