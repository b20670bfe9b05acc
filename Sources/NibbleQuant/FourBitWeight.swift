import NibbleKernels

/// A 4-bit (NF4/FP4) linear weight, optionally with double-quantized absmax.
///
/// The matmul decodes codes inside the kernel (fused with the dot product for one input row, a cache-sized
/// block of weight rows at a time for several); the full float matrix is never materialized.
public struct FourBitWeight: LinearWeight, Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    public let quantType: FourBitQuantType
    public let blocksize: Int
    /// Dtype dequantized weights and inputs are rounded to (bnb_4bit_compute_dtype).
    public let computeDType: ComputeDType
    /// Dtype of the weight before quantization ("float32", "float16", "bfloat16"; goes into the quant_state blob).
    public let originalDType: String
    /// (out*in/2) packed nibbles, first element in the high nibble.
    public let packed: [UInt8]
    /// Plain absmax, (blocks); empty when `nested` holds them.
    public let absmax: [Float]
    /// Double-quantized absmax, when used.
    public let nested: NestedAbsmax?

    public init(outFeatures: Int, inFeatures: Int, quantType: FourBitQuantType, blocksize: Int = 64,
                computeDType: ComputeDType = .float32, originalDType: String = "float32",
                packed: [UInt8], absmax: [Float], nested: NestedAbsmax?) {
        self.outFeatures = outFeatures; self.inFeatures = inFeatures; self.quantType = quantType
        self.blocksize = blocksize; self.computeDType = computeDType; self.originalDType = originalDType
        self.packed = packed; self.absmax = absmax; self.nested = nested
    }

    /// Quantizes a float weight `(out, in)` row-major (values already at the original dtype's precision).
    public init(quantizing weight: UnsafeBufferPointer<Float>, outFeatures: Int, inFeatures: Int,
                quantType: FourBitQuantType, doubleQuant: Bool, blocksize: Int = 64,
                computeDType: ComputeDType = .float32, originalDType: String = "float32") {
        precondition(weight.count == outFeatures * inFeatures, "weight is not (out, in)")
        let (packed, absmax) = FourBitQuantizer.quantize(weight, type: quantType, blocksize: blocksize)
        self.init(outFeatures: outFeatures, inFeatures: inFeatures, quantType: quantType, blocksize: blocksize,
                  computeDType: computeDType, originalDType: originalDType, packed: packed,
                  absmax: doubleQuant ? [] : absmax,
                  nested: doubleQuant ? NestedAbsmax(quantizing: absmax) : nil)
    }

    /// Number of 4-bit blocks.
    public var blockCount: Int { (outFeatures * inFeatures + blocksize - 1) / blocksize }

    /// Absmax of every block in f32 (reconstructed when double-quantized). (blocks)
    public func blockAbsmax() -> [Float] { nested?.absmax() ?? absmax }

    public var storageBytes: Int {
        var bytes = packed.count + 16 * 4  // codes + quant_map
        if let nested {
            bytes += nested.codes.count + nested.nestedAbsmax.count * 4 + 256 * 4 + 4  // + nested map + offset
        } else {
            bytes += absmax.count * 4
        }
        return bytes
    }

    /// Storage bits per weight parameter.
    public var bitsPerParameter: Double { Double(storageBytes * 8) / Double(outFeatures * inFeatures) }

    public var formatName: String { quantType.rawValue + (nested != nil ? "+dq" : "") }

    /// Fully dequantized weight `(out, in)`, rounded to the compute dtype (for tests and export).
    public func dequantized() -> [Float] {
        FourBitQuantizer.dequantize(packed: packed, absmax: blockAbsmax(), count: outFeatures * inFeatures,
                                    type: quantType, blocksize: blocksize, dtype: computeDType)
    }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        apply(x, rows: rows, into: y, path: .current)
    }

    /// `apply` on a chosen kernel path (tests compare the vector path with the portable one). The weights are
    /// decoded inside the kernel, double-quantized absmax included, so nothing proportional to the weight is
    /// allocated per call.
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, path: KernelPath) {
        guard rows > 0, outFeatures > 0 else { return }
        prepareProduct(x, rows: rows, into: y, path: path).runAndFinish()
    }

    public func prepareProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) -> PreparedProduct? {
        prepareProduct(x, rows: rows, into: y, path: .current)
    }

    /// `prepareProduct` on a chosen kernel path: the input is rounded to the compute dtype (and put in the
    /// kernel's order) once, then every range decodes its own weight rows.
    public func prepareProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                               path: KernelPath) -> PreparedProduct {
        let (out, inF) = (outFeatures, inFeatures)
        guard rows > 0, inF > 0 else {
            // An empty sum is zero, as a full dequantization gives.
            return PreparedProduct(outFeatures: out, work: 0) { range in
                for r in 0..<rows { (y + r * out + range.lowerBound).initialize(repeating: 0, count: range.count) }
            }
        }
        let rounding = computeDType.rounding
        let input = FourBitKernels.PreparedInput(x, rows: rows, inFeatures: inF, blocksize: blocksize, compute: rounding,
                                                 path: path)
        let weight = self
        // Decoding costs a few operations per weight on top of the multiply-add, so even one input row is
        // worth splitting early.
        return PreparedProduct(outFeatures: out, work: 4 * out * inF * rows, chunksPerThread: 4, run: { range in
            weight.multiply(input, rows: rows, into: y, outputs: range, compute: rounding, path: path)
        }, cleanup: { input.release() })
    }

    /// Output features `outputs` of `x · dequant(W)ᵀ` for an input prepared on `path`.
    private func multiply(_ input: FourBitKernels.PreparedInput, rows: Int, into y: UnsafeMutablePointer<Float>,
                          outputs: Range<Int>, compute: FloatRounding, path: KernelPath) {
        let (out, inF, blocksize) = (outFeatures, inFeatures, self.blocksize)
        let run = { (packed: UnsafePointer<UInt8>, code: UnsafePointer<Float>, scales: FourBitKernels.BlockScales) in
            FourBitKernels.matmul(packed: packed, code: code, blocksize: blocksize, scales: scales, compute: compute,
                                  outFeatures: out, inFeatures: inF, input: input, rows: rows, y: y, outputs: outputs,
                                  path: path)
        }
        packed.withUnsafeBufferPointer { pp in
            quantType.code.withUnsafeBufferPointer { cp in
                if let nested {
                    nested.codes.withUnsafeBufferPointer { qp in
                        nested.nestedAbsmax.withUnsafeBufferPointer { np in
                            CodeTables.dynamic8bit.withUnsafeBufferPointer { tp in
                                run(pp.baseAddress!, cp.baseAddress!,
                                    .nested(codes: qp.baseAddress!, code: tp.baseAddress!, nested: np.baseAddress!,
                                            nestedBlocksize: nested.blocksize, offset: nested.offset))
                            }
                        }
                    }
                } else {
                    absmax.withUnsafeBufferPointer { ap in run(pp.baseAddress!, cp.baseAddress!, .plain(ap.baseAddress!)) }
                }
            }
        }
    }
}

extension ComputeDType {
    /// The kernels' name for this dtype's rounding.
    var rounding: FloatRounding {
        switch self {
        case .float32: return .f32
        case .float16: return .f16
        case .bfloat16: return .bf16
        }
    }
}
