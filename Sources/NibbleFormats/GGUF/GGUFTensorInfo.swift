/// One tensor described in a GGUF header, with its data located and size-checked.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The name in the file (`blk.0.attn_q.weight`).
    public let name: String
    /// ggml dimensions, innermost first (`ne[0]` is the row length): the reverse of a row-major shape.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset of the data from the start of the data section, as stored.
    public let offset: Int
    /// Byte range of the data in the file.
    public let byteRange: Range<Int>

    /// Number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// Row-major shape, outermost first (`[rows, rowLength]` for a matrix), as gguf-py and transformers see it.
    public var shape: [Int] { dimensions.reversed() }
}
