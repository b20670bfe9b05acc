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

    public init(outFeatures: Int, inFeatures: Int, cb: [Int8], scb: [Float], threshold: Float = 6.0) {
        precondition(cb.count == outFeatures * inFeatures && scb.count == outFeatures, "CB/SCB shapes")
        self.outFeatures = outFeatures; self.inFeatures = inFeatures; self.cb = cb; self.scb = scb
        self.threshold = threshold
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
    /// rows quantized once; every range then runs the int8 kernel and adds the outlier columns of its outputs.
    public func prepareProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                               path: KernelPath) -> PreparedProduct {
        let n = inFeatures, m = outFeatures, count = rows * n
        guard rows > 0, n > 0 else {
            // An empty sum, as `forward` gives.
            return PreparedProduct(outFeatures: m, work: 0) { range in
                for r in 0..<rows { (y + r * m + range.lowerBound).initialize(repeating: 0, count: range.count) }
            }
        }
        let xh = UnsafeMutablePointer<Float>.allocate(capacity: count)  // (rows, in) input rounded to fp16
        FloatRounding.f16.round(x, into: xh, count: count, path: path)
        let threshold = self.threshold
        var cols: [Int] = []  // ascending outlier column indices
        if threshold > 0 {
            var outlier = [Bool](repeating: false, count: n)  // (in)
            for r in 0..<rows {
                let xr = xh + r * n
                for c in 0..<n where abs(xr[c]) >= threshold { outlier[c] = true }
            }
            cols = (0..<n).filter { outlier[$0] }
        }
        // Row-wise quantization of the input with outlier entries zeroed, as `Int8Quantizer.quantizeRows` does.
        let ca = UnsafeMutablePointer<Int8>.allocate(capacity: count)  // (rows, in)
        let sca = UnsafeMutablePointer<Float>.allocate(capacity: rows)  // (rows)
        Int8Kernels.quantizeRows(xh, rows: rows, cols: n, threshold: threshold, into: ca, absmax: sca, path: path)
        if rows > 1 { for r in 0..<rows { for c in cols { ca[r * n + c] = 0 } } }
        // Outlier weight columns CB·SCB/127 in f32. (cols, out)
        var outlierWeights = [Float](repeating: 0, count: cols.count * m)
        for (k, c) in cols.enumerated() {
            for o in 0..<m { outlierWeights[k * m + o] = (Float(cb[o * n + c]) * scb[o]) * (1 / Float(127)) }
        }
        let k = Int8Quantizer.mmDequantScale
        let codes = cb, scales = scb  // held by the closure, which outlives this call
        let outlierColumns = cols, columnWeights = outlierWeights
        return PreparedProduct(outFeatures: m, work: rows * m * n, chunksPerThread: 4, run: { range in
            codes.withUnsafeBufferPointer { bp in
                scales.withUnsafeBufferPointer { sp in
                    Int8Kernels.matmulDequantized(a: ca, b: bp.baseAddress!, rows: rows, out: m, inner: n, rowScale: sca,
                                                  colScale: sp.baseAddress!, k: k, outputs: range, into: y, path: path)
                }
            }
            guard !outlierColumns.isEmpty else { return }
            columnWeights.withUnsafeBufferPointer { wp in
                // Summed from zero in column order, then added, exactly as `forward` does.
                for r in 0..<rows {
                    let xr = xh + r * n
                    for o in range {
                        var acc: Float = 0
                        for (j, c) in outlierColumns.enumerated() { acc += xr[c] * wp[j * m + o] }
                        y[r * m + o] += acc
                    }
                }
            }
        }, cleanup: {
            xh.deallocate()
            ca.deallocate()
            sca.deallocate()
        })
    }
}
