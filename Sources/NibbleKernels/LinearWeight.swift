/// The weight of a linear layer in whatever storage format it was loaded in (f32, f16, bf16, int8, 4-bit).
///
/// Model code only ever multiplies by it; quantization and dequantization stay behind this seam.
public protocol LinearWeight: Sendable {
    /// Rows of W (output features).
    var outFeatures: Int { get }
    /// Columns of W (input features).
    var inFeatures: Int { get }
    /// Bytes of weight storage really held (codes + scales + maps), for memory accounting.
    var storageBytes: Int { get }
    /// A short description for plans and reports, e.g. "nf4+dq", "int8", "f16".
    var formatName: String { get }
    /// y (rows, outFeatures) = x (rows, inFeatures) · Wᵀ; both row-major float32.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>)
    /// Drops pages this weight borrowed from a file mapping out of the process (offloaded layers call it
    /// after they run, so resident memory stays within the budget). Owned storage ignores it.
    func releaseResidentPages()
}

extension LinearWeight {
    public func releaseResidentPages() {}
}

extension LinearWeight {
    /// Convenience over arrays: x is `(rows, inFeatures)`, the result `(rows, outFeatures)`.
    public func apply(_ x: [Float], rows: Int) -> [Float] {
        precondition(x.count == rows * inFeatures, "input is not (rows, inFeatures)")
        var y = [Float](repeating: 0, count: rows * outFeatures)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in apply(xp.baseAddress!, rows: rows, into: yp.baseAddress!) }
        }
        return y
    }
}
