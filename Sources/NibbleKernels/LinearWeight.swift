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
    /// The product `y (rows, outFeatures) = x · Wᵀ` prepared to run by ranges of output features, or nil when
    /// this format only runs whole products (`apply`). `x` and `y` must stay valid until `finish`.
    func prepareProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) -> PreparedProduct?
}

extension LinearWeight {
    public func releaseResidentPages() {}
    public func prepareProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) -> PreparedProduct? {
        nil
    }
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

/// A product `y = x · Wᵀ` whose per-call preparation (rounding or quantizing the input) is done, ready to compute
/// any range of its output features. Several of them can then share one parallel dispatch (`PreparedProduct.runAll`):
/// q/k/v or gate/up of a block read the same input, and at small widths the hand-off to the worker threads
/// and the wait for the slowest of them cost as much as the arithmetic.
public struct PreparedProduct {
    /// Output features (the range `run` accepts is within `0..<outFeatures`).
    public let outFeatures: Int
    /// Estimated multiply-adds of the whole product (decides whether splitting pays).
    public let work: Int
    /// Chunks per thread when split (above 1 for kernels whose chunks are long enough to balance).
    public let chunksPerThread: Int
    private let body: (Range<Int>) -> Void
    private let cleanup: (() -> Void)?

    public init(outFeatures: Int, work: Int, chunksPerThread: Int = 1, run body: @escaping (Range<Int>) -> Void,
                cleanup: (() -> Void)? = nil) {
        self.outFeatures = outFeatures
        self.work = work
        self.chunksPerThread = chunksPerThread
        self.body = body
        self.cleanup = cleanup
    }

    /// Computes output features `outputs` for every input row.
    public func run(_ outputs: Range<Int>) { body(outputs) }

    /// Frees what the preparation allocated; call once, after the last `run`.
    public func finish() { cleanup?() }

    /// Runs the whole product, split across threads, then finishes it.
    public func runAndFinish() {
        Parallel.forRange(outFeatures, work: work, granularity: 4, chunksPerThread: chunksPerThread) { run($0) }
        finish()
    }

    /// Runs every product in one parallel loop over their concatenated output features, then finishes them.
    ///
    /// Each product's segment starts at a multiple of 4, so every chunk boundary inside a product falls where it
    /// would when the product runs alone (the kernels' register tiles see the same rows).
    public static func runAll(_ products: [PreparedProduct]) {
        var starts: [Int] = []  // (products) first index of each segment
        starts.reserveCapacity(products.count)
        var total = 0, work = 0, chunks = 1
        for product in products {
            starts.append(total)
            total += (product.outFeatures + 3) / 4 * 4
            work += product.work
            chunks = max(chunks, product.chunksPerThread)
        }
        Parallel.forRange(total, work: work, granularity: 4, chunksPerThread: chunks) { range in
            for (index, product) in products.enumerated() {
                let low = max(range.lowerBound - starts[index], 0)
                let high = min(range.upperBound - starts[index], product.outFeatures)
                if low < high { product.run(low..<high) }
            }
        }
        for product in products { product.finish() }
    }
}
