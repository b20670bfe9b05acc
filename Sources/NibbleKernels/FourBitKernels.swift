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
    /// it, and x is rounded to `compute` too; only the order of the float sums differs between paths.
    /// - code: `(16)`; x: `(rows, in)`; y: `(rows, out)`.
    public static func matmul(packed: UnsafePointer<UInt8>, code: UnsafePointer<Float>, blocksize: Int,
                              scales: BlockScales, compute: FloatRounding, outFeatures: Int, inFeatures: Int,
                              x: UnsafePointer<Float>, rows: Int, y: UnsafeMutablePointer<Float>,
                              path: KernelPath = .current) {
        guard rows > 0, outFeatures > 0 else { return }
        let input = PreparedInput(x, rows: rows, inFeatures: inFeatures, blocksize: blocksize, compute: compute, path: path)
        defer { input.release() }
        withWeight(packed: packed, code: code, blocksize: blocksize, scales: scales, compute: compute,
                   outFeatures: outFeatures, inFeatures: inFeatures) { w in
            // Decoding costs a few operations per weight on top of the multiply-add, so even one input row is
            // worth splitting early.
            let implementation = path.implementation
            Parallel.forRange(outFeatures, work: 4 * outFeatures * inFeatures * rows, granularity: 4, chunksPerThread: 4) { range in
                nibble_matmul_4bit(implementation, w, input.pointer, rows, range.lowerBound, range.upperBound, y,
                                   outFeatures)
            }
        }
    }

    /// The input of a 4-bit product in the form the kernel reads: rounded to the compute format and, on the
    /// vector paths, reordered to match the decoded weights — made once per product, read by every range.
    public struct PreparedInput: @unchecked Sendable {
        /// `(rows, in)` prepared input, or the caller's x when the kernel reads it as it is.
        public let pointer: UnsafePointer<Float>
        private let owned: UnsafeMutablePointer<Float>?

        public init(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, blocksize: Int, compute: FloatRounding,
                    path: KernelPath) {
            let implementation = path.implementation
            let floats = nibble_4bit_input_floats(implementation, inFeatures, blocksize, compute.format, rows)
            guard floats > 0 else {
                pointer = x
                owned = nil
                return
            }
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: floats)  // (rows, in)
            nibble_4bit_prepare_input(implementation, inFeatures, blocksize, compute.format, x, rows, inFeatures, buffer)
            pointer = UnsafePointer(buffer)
            owned = buffer
        }

        /// Frees the prepared copy (after the product's last range).
        public func release() { owned?.deallocate() }
    }

    /// Output features `outputs` only of the product `matmul` computes, on the calling thread, from an input
    /// prepared on the same `path`.
    public static func matmul(packed: UnsafePointer<UInt8>, code: UnsafePointer<Float>, blocksize: Int,
                              scales: BlockScales, compute: FloatRounding, outFeatures: Int, inFeatures: Int,
                              input: PreparedInput, rows: Int, y: UnsafeMutablePointer<Float>, outputs: Range<Int>,
                              path: KernelPath = .current) {
        guard rows > 0, !outputs.isEmpty else { return }
        withWeight(packed: packed, code: code, blocksize: blocksize, scales: scales, compute: compute,
                   outFeatures: outFeatures, inFeatures: inFeatures) { w in
            nibble_matmul_4bit(path.implementation, w, input.pointer, rows, outputs.lowerBound, outputs.upperBound, y,
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
