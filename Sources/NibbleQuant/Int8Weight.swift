import NibbleKernels

/// An LLM.int8() linear weight: CB int8 `(out, in)` and SCB f32 `(out)`, with outlier decomposition.
public struct Int8Weight: LinearWeight, Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    /// (out, in) row-quantized weight.
    public let cb: [Int8]
    /// (out) absmax of each weight row.
    public let scb: [Float]
    /// Input columns with any |x| ≥ threshold go through the fp path; 0 disables the decomposition.
    public let threshold: Float
    /// No code is −128 (always so when quantized here; checked for stored codes), which lets the int8 product
    /// use the faster exact kernel.
    public let isSymmetric: Bool

    public init(outFeatures: Int, inFeatures: Int, cb: [Int8], scb: [Float], threshold: Float = 6.0) {
        precondition(cb.count == outFeatures * inFeatures && scb.count == outFeatures, "CB/SCB shapes")
        self.outFeatures = outFeatures; self.inFeatures = inFeatures; self.cb = cb; self.scb = scb
        self.threshold = threshold
        isSymmetric = cb.withUnsafeBufferPointer { Int8Kernels.isSymmetric($0) }
    }

    /// Quantizes a float weight `(out, in)`.
    public init(quantizing weight: UnsafeBufferPointer<Float>, outFeatures: Int, inFeatures: Int, threshold: Float = 6.0) {
        let (cb, scb) = Int8Quantizer.quantize(weight: weight, outFeatures: outFeatures, inFeatures: inFeatures)
        self.init(outFeatures: outFeatures, inFeatures: inFeatures, cb: cb, scb: scb, threshold: threshold)
    }

    public var storageBytes: Int { cb.count + scb.count * 4 }
    /// Storage bits per weight parameter (8 + 32/in).
    public var bitsPerParameter: Double { Double(storageBytes * 8) / Double(outFeatures * inFeatures) }
    public var formatName: String { "int8" }

    /// CB * SCB / 127 in f32 (the weight the fp outlier path sees). (out, in)
    public func dequantized() -> [Float] {
        (0..<(outFeatures * inFeatures)).map { i in (Float(cb[i]) * scb[i / inFeatures]) * (1 / Float(127)) }
    }

    /// The intermediate results of one forward, exposed so each step can be checked.
    public struct Forward: Sendable {
        /// (rows, in) quantized activations.
        public var ca: [Int8]
        /// (rows) activation row absmax.
        public var sca: [Float]
        /// Ascending outlier column indices.
        public var outlierColumns: [Int]
        /// (rows, out) int32 products.
        public var i32: [Int32]
        /// (rows, out) dequantized int8 product, before outliers.
        public var mmDequant: [Float]
        /// (rows, out) final output (no bias).
        public var output: [Float]
    }

    /// Runs the forward and keeps the intermediates.
    public func forward(_ x: UnsafePointer<Float>, rows: Int) -> Forward {
        let n = rows * inFeatures
        var xh = [Float](repeating: 0, count: n)  // (rows, in) input rounded to fp16, as bnb casts it
        for i in 0..<n { xh[i] = roundToF16(x[i]) }
        var outlier = [Bool](repeating: false, count: inFeatures)  // (in)
        if threshold > 0 {
            for i in 0..<n where abs(xh[i]) >= threshold { outlier[i % inFeatures] = true }
        }
        let cols = (0..<inFeatures).filter { outlier[$0] }
        var xq = xh  // (rows, in) outlier entries zeroed before the row absmax
        if threshold > 0 { for i in 0..<n where abs(xq[i]) >= threshold { xq[i] = 0 } }
        var (ca, sca) = xq.withUnsafeBufferPointer { Int8Quantizer.quantizeRows($0, rows: rows, cols: inFeatures) }
        if rows > 1 { for r in 0..<rows { for c in cols { ca[r * inFeatures + c] = 0 } } }
        var i32 = [Int32](repeating: 0, count: rows * outFeatures)  // (rows, out)
        var out = [Float](repeating: 0, count: rows * outFeatures)  // (rows, out)
        ca.withUnsafeBufferPointer { ap in
            cb.withUnsafeBufferPointer { bp in
                i32.withUnsafeMutableBufferPointer { ip in
                    Int8Kernels.matmulInt32(a: ap.baseAddress!, b: bp.baseAddress!, rows: rows, out: outFeatures,
                                            inner: inFeatures, into: ip.baseAddress!)
                }
            }
        }
        let k = Int8Quantizer.mmDequantScale
        for r in 0..<rows {
            for o in 0..<outFeatures {
                out[r * outFeatures + o] = (Float(i32[r * outFeatures + o]) * (sca[r] * scb[o])) * k
            }
        }
        let mm = out
        if !cols.isEmpty {
            // Outlier columns in floating point against the dequantized weight columns.
            for r in 0..<rows {
                for o in 0..<outFeatures {
                    var acc: Float = 0
                    for c in cols {
                        let w = (Float(cb[o * inFeatures + c]) * scb[o]) * (1 / Float(127))
                        acc += xh[r * inFeatures + c] * w
                    }
                    out[r * outFeatures + o] += acc
                }
            }
        }
        return Forward(ca: ca, sca: sca, outlierColumns: cols, i32: i32, mmDequant: mm, output: out)
    }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        apply(x, rows: rows, into: y, path: .current)
    }

    /// The same output as `forward(x, rows:).output`, bit for bit, without keeping its intermediates: the
    /// int8 product is dequantized inside the kernel and the outlier columns are added per output chunk.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, path: KernelPath) {
        guard rows > 0, outFeatures > 0 else { return }
        prepareProduct(x, rows: rows, into: y, path: path).runAndFinish()
    }

    public func prepareProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) -> PreparedProduct? {
        prepareProduct(x, rows: rows, into: y, path: .current)
    }

    /// `prepareProduct` on a chosen kernel path: the input is rounded to fp16, its outlier columns found and its
    /// rows quantized once (in C, into one allocation); every range then runs the int8 kernel and adds the
    /// outlier columns of its outputs.
    public func prepareProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                               path: KernelPath) -> PreparedProduct {
        let n = inFeatures, m = outFeatures, count = rows * n
        guard rows > 0, n > 0 else {
            // An empty sum, as `forward` gives.
            return PreparedProduct(outFeatures: m, work: 0) { range in
                for r in 0..<rows { (y + r * m + range.lowerBound).initialize(repeating: 0, count: range.count) }
            }
        }
        // One block for the prepared input: xh (rows, in) f32, sca (rows) f32, cols (in) int32, ca (rows, in) int8.
        let floats = count + rows, bytes = (floats + n) * 4 + count
        let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let xh = block.bindMemory(to: Float.self, capacity: floats)  // (rows, in) input rounded to fp16
        let sca = xh + count  // (rows) activation row absmax
        let cols = (block + floats * 4).bindMemory(to: Int32.self, capacity: n)  // (in) outlier columns, ascending
        let ca = (block + (floats + n) * 4).bindMemory(to: Int8.self, capacity: count)  // (rows, in) quantized input
        let outliers = Int8Kernels.prepareInput(x, rows: rows, cols: n, threshold: threshold, rounded: xh, quantized: ca,
                                                absmax: sca, outlierColumns: cols, path: path)
        let k = Int8Quantizer.mmDequantScale, symmetric = isSymmetric
        let codes = cb, scales = scb  // held by the closure, which outlives this call
        return PreparedProduct(outFeatures: m, work: rows * m * n, chunksPerThread: 4, run: { range in
            codes.withUnsafeBufferPointer { bp in
                scales.withUnsafeBufferPointer { sp in
                    Int8Kernels.matmulDequantized(a: ca, b: bp.baseAddress!, rows: rows, out: m, inner: n, rowScale: sca,
                                                  colScale: sp.baseAddress!, k: k, outputs: range, into: y,
                                                  weightSymmetric: symmetric, path: path)
                    Int8Kernels.addOutlierColumns(xh, rows: rows, inner: n, columns: cols, count: outliers,
                                                  cb: bp.baseAddress!, scb: sp.baseAddress!, out: m, outputs: range,
                                                  into: y, path: path)
                }
            }
        }, cleanup: {
            block.deallocate()
        })
    }
}
