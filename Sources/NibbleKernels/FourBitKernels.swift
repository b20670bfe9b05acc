import CNibbleKernels

/// Hot loops of 4-bit matmuls (C kernels: AVX2 with a portable fallback).
public enum FourBitKernels {
    /// Where the absmax of each 4-bit block comes from.
    public enum BlockScales {
        /// `(blocks)` float32 absmax.
        case plain(UnsafePointer<Float>)
        /// Double quantization: absmax[b] = code[codes[b]] · nested[b / nestedBlocksize] + offset, rebuilt per
        /// block inside the kernel (multiply then add, unfused) so no float copy of the absmax is kept.
        /// - codes: `(blocks)`; code: `(256)`; nested: `(ceil(blocks / nestedBlocksize))`.
        case nested(codes: UnsafePointer<UInt8>, code: UnsafePointer<Float>, nested: UnsafePointer<Float>,
                    nestedBlocksize: Int, offset: Float)
    }

    /// y (rows, out) = x (rows, in) · dequant(W)ᵀ for W stored as packed nibbles `((out·in + 1) / 2)` (first
    /// element in the high nibble) with one absmax per `blocksize` elements of the flattened matrix.
    ///
    /// Each dequantized weight is `compute.round(code[q] · absmax)`, exactly as a full dequantization gives
    /// it; only the order of the float sums differs between paths. `x` must already be rounded to `compute`.
    /// - code: `(16)`; x: `(rows, in)`; y: `(rows, out)`.
    public static func matmul(packed: UnsafePointer<UInt8>, code: UnsafePointer<Float>, blocksize: Int,
                              scales: BlockScales, compute: FloatRounding, outFeatures: Int, inFeatures: Int,
                              x: UnsafePointer<Float>, rows: Int, y: UnsafeMutablePointer<Float>,
                              path: KernelPath = .current) {
        guard rows > 0, outFeatures > 0 else { return }
        withWeight(packed: packed, code: code, blocksize: blocksize, scales: scales, compute: compute,
                   outFeatures: outFeatures, inFeatures: inFeatures) { w in
            // Decoding costs a few operations per weight on top of the multiply-add, so even one input row is
            // worth splitting early.
            let implementation = path.implementation
            Parallel.forRange(outFeatures, work: 4 * outFeatures * inFeatures * rows, granularity: 4, chunksPerThread: 4) { range in
                nibble_matmul_4bit(implementation, w, x, rows, inFeatures, range.lowerBound, range.upperBound, y,
                                   outFeatures)
            }
        }
    }

    /// Output features `outputs` only of the product `matmul` computes, on the calling thread.
    public static func matmul(packed: UnsafePointer<UInt8>, code: UnsafePointer<Float>, blocksize: Int,
                              scales: BlockScales, compute: FloatRounding, outFeatures: Int, inFeatures: Int,
                              x: UnsafePointer<Float>, rows: Int, y: UnsafeMutablePointer<Float>, outputs: Range<Int>,
                              path: KernelPath = .current) {
        guard rows > 0, !outputs.isEmpty else { return }
        withWeight(packed: packed, code: code, blocksize: blocksize, scales: scales, compute: compute,
                   outFeatures: outFeatures, inFeatures: inFeatures) { w in
            nibble_matmul_4bit(path.implementation, w, x, rows, inFeatures, outputs.lowerBound, outputs.upperBound, y,
                               outFeatures)
        }
    }

    private static func withWeight(packed: UnsafePointer<UInt8>, code: UnsafePointer<Float>, blocksize: Int,
                                   scales: BlockScales, compute: FloatRounding, outFeatures: Int, inFeatures: Int,
                                   _ body: (UnsafePointer<nibble_4bit_weight>) -> Void) {
        var weight = nibble_4bit_weight()
        weight.packed = packed
        weight.code = code
        weight.blocksize = blocksize
        switch scales {
        case .plain(let absmax):
            weight.absmax = absmax
        case .nested(let codes, let table, let nested, let nestedBlocksize, let offset):
            weight.absmax_codes = codes
            weight.absmax_code = table
            weight.nested_absmax = nested
            weight.nested_blocksize = nestedBlocksize
            weight.offset = offset
        }
        weight.compute = compute.format
        weight.out = outFeatures
        weight.n = inFeatures
        withUnsafePointer(to: &weight) { body($0) }
    }
}
