import CNibbleKernels

/// Hot loops of LLM.int8() matmuls (C kernels: AVX2 with a portable fallback, both exact).
public enum Int8Kernels {
    /// into (rows, out) = a (rows, inner) · bᵀ with b (out, inner); exact int32 accumulation, split across threads.
    /// `weightSymmetric` may be true only when b holds no −128: it selects the faster exact product.
    public static func matmulInt32(a: UnsafePointer<Int8>, b: UnsafePointer<Int8>, rows: Int, out: Int, inner: Int,
                                   into: UnsafeMutablePointer<Int32>, weightSymmetric: Bool = false,
                                   path: KernelPath = .current) {
        guard rows > 0, out > 0 else { return }
        let implementation = path.implementation, symmetric: Int32 = weightSymmetric ? 1 : 0
        Parallel.forRange(out, work: rows * out * inner, granularity: 4, chunksPerThread: 4) { range in
            nibble_matmul_i8(implementation, a, rows, inner, b, inner, range.lowerBound, range.upperBound, into, out,
                             symmetric)
        }
    }

    /// Whether a weight's codes avoid −128, so the faster exact product applies (codes quantized here always
    /// do; a checkpoint's stored codes might not).
    public static func isSymmetric(_ codes: UnsafeBufferPointer<Int8>) -> Bool {
        !codes.contains(Int8.min)
    }

    /// The int8 product dequantized as LLM.int8() does, for the output features in `outputs` only (callers
    /// split the work):
    /// into[r, o] = (Float(Σ a[r, i]·b[o, i]) · (rowScale[r] · colScale[o])) · k.
    ///
    /// - a: `(rows, inner)` quantized activations; b: `(out, inner)` quantized weight.
    /// - rowScale: `(rows)`; colScale: `(out)`; into: `(rows, out)`.
    public static func matmulDequantized(a: UnsafePointer<Int8>, b: UnsafePointer<Int8>, rows: Int, out: Int, inner: Int,
                                         rowScale: UnsafePointer<Float>, colScale: UnsafePointer<Float>, k: Float,
                                         outputs: Range<Int>, into: UnsafeMutablePointer<Float>,
                                         weightSymmetric: Bool = false, path: KernelPath = .current) {
        guard rows > 0, !outputs.isEmpty else { return }
        nibble_matmul_i8_scaled(path.implementation, a, rows, inner, b, inner, outputs.lowerBound, outputs.upperBound,
                                rowScale, colScale, k, into, out, weightSymmetric ? 1 : 0)
    }

    /// The input side of one LLM.int8() product, in one pass of C: xh = x rounded to fp16; `outlierColumns`
    /// receives the ascending columns with any |xh| ≥ threshold (threshold > 0); q and absmax as `quantizeRows`
    /// gives them, with the outlier columns of q zeroed when rows > 1. Returns the number of outlier columns.
    /// - x, xh: `(rows, cols)`; q: `(rows, cols)`; absmax: `(rows)`; outlierColumns: `(cols)`.
    public static func prepareInput(_ x: UnsafePointer<Float>, rows: Int, cols: Int, threshold: Float,
                                    rounded xh: UnsafeMutablePointer<Float>, quantized q: UnsafeMutablePointer<Int8>,
                                    absmax: UnsafeMutablePointer<Float>, outlierColumns: UnsafeMutablePointer<Int32>,
                                    path: KernelPath = .current) -> Int {
        guard rows > 0, cols > 0 else { return 0 }
        return nibble_i8_prepare(path.implementation, x, rows, cols, threshold, xh, q, absmax, outlierColumns)
    }

    /// Adds the outlier columns' floating-point product for outputs `outputs`:
    /// y[r, o] += Σ_j xh[r, cols[j]] · ((Float(cb[o, cols[j]]) · scb[o]) · (1/127)), summed from zero in column
    /// order, every product and sum rounded on its own.
    /// - xh: `(rows, inner)`; cols: `(count)`; cb: `(out, inner)`; scb: `(out)`; y: `(rows, out)`.
    public static func addOutlierColumns(_ xh: UnsafePointer<Float>, rows: Int, inner: Int,
                                         columns cols: UnsafePointer<Int32>, count: Int, cb: UnsafePointer<Int8>,
                                         scb: UnsafePointer<Float>, out: Int, outputs: Range<Int>,
                                         into y: UnsafeMutablePointer<Float>, path: KernelPath = .current) {
        guard rows > 0, count > 0, !outputs.isEmpty else { return }
        nibble_i8_add_outliers(path.implementation, xh, rows, inner, cols, count, cb, scb, outputs.lowerBound,
                               outputs.upperBound, y, out)
    }

    /// LLM.int8() row-wise activation quantization: entries with |v| ≥ threshold (threshold > 0) count as 0;
    /// absmax[r] = row r's largest remaining |v|; q = clamp(round-half-even(v · ((1 / absmax) · 127)), ±127),
    /// 0 for NaN — `Int8Quantizer.quantizeRows` after zeroing the outliers, bit for bit.
    /// - x: `(rows, cols)` already rounded to fp16; q: `(rows, cols)`; absmax: `(rows)`.
    public static func quantizeRows(_ x: UnsafePointer<Float>, rows: Int, cols: Int, threshold: Float,
                                    into q: UnsafeMutablePointer<Int8>, absmax: UnsafeMutablePointer<Float>,
                                    path: KernelPath = .current) {
        guard rows > 0 else { return }
        nibble_quantize_i8_rows(path.implementation, x, rows, cols, threshold, q, absmax)
    }
}
