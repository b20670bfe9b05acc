import CNibbleKernels

/// Hot loops of LLM.int8() matmuls (C kernels: AVX2 with a portable fallback, both exact).
public enum Int8Kernels {
    /// into (rows, out) = a (rows, inner) · bᵀ with b (out, inner); exact int32 accumulation, split across threads.
    public static func matmulInt32(a: UnsafePointer<Int8>, b: UnsafePointer<Int8>, rows: Int, out: Int, inner: Int,
                                   into: UnsafeMutablePointer<Int32>, path: KernelPath = .current) {
        guard rows > 0, out > 0 else { return }
        let implementation = path.implementation
        Parallel.forRange(out, work: rows * out * inner, granularity: 4, chunksPerThread: 4) { range in
            nibble_matmul_i8(implementation, a, rows, inner, b, inner, range.lowerBound, range.upperBound, into, out)
        }
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
                                         path: KernelPath = .current) {
        guard rows > 0, !outputs.isEmpty else { return }
        nibble_matmul_i8_scaled(path.implementation, a, rows, inner, b, inner, outputs.lowerBound, outputs.upperBound,
                                rowScale, colScale, k, into, out)
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
