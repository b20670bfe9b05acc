/// Tensors by name, whatever file format holds them: what model loading reads weights through.
///
/// `SafetensorsArchive` serves stored tensors as they are; a GGUF file serves its tensors renamed and
/// dequantized. Shapes and sizes are known without reading data, so placement can plan before loading.
public protocol TensorSource: Sendable {
    /// The file or directory the tensors come from (for error messages).
    var location: String { get }
    /// Every tensor name.
    var tensorNames: [String] { get }
    /// Whether a tensor exists.
    func contains(_ name: String) -> Bool
    /// Row-major shape and the bytes the tensor occupies once read by `tensor(_:)`, without reading it.
    func layout(of name: String) -> (shape: [Int], byteCount: Int)?
    /// Reads a tensor; the error names the source.
    func tensor(_ name: String) throws -> TensorView
    /// A tensor for the disk tier: its bytes must live in a file mapping, so that pages dropped after use are
    /// read back from the file. Stored tensors are; a source that computes a tensor at load writes it to a file.
    func offloadableTensor(_ name: String) throws -> TensorView
}

extension TensorSource {
    public func offloadableTensor(_ name: String) throws -> TensorView { try tensor(name) }
}

extension SafetensorsArchive: TensorSource {
    public func layout(of name: String) -> (shape: [Int], byteCount: Int)? {
        tensorIfPresent(name).map { ($0.shape, $0.byteRange.count) }
    }
}
