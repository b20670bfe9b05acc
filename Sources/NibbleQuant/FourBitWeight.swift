import NibbleKernels

/// A 4-bit (NF4/FP4) linear weight, optionally with double-quantized absmax.
///
/// The matmul dequantizes one weight row at a time into a scratch row and reuses it for every input row;
/// the full float matrix is never materialized.
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
        let scales = blockAbsmax()  // (blocks) f32, small next to the codes
        var xc = [Float](repeating: 0, count: rows * inFeatures)  // (rows, in) input in compute dtype
        for i in 0..<(rows * inFeatures) { xc[i] = computeDType.round(x[i]) }
        let code = quantType.code
        let dtype = computeDType
        xc.withUnsafeBufferPointer { xp in
            scales.withUnsafeBufferPointer { sp in
                packed.withUnsafeBufferPointer { pp in
                    code.withUnsafeBufferPointer { cp in
                        FourBitKernels.matmul(packed: pp.baseAddress!, absmax: sp.baseAddress!, code: cp.baseAddress!,
                                              blocksize: blocksize, outFeatures: outFeatures, inFeatures: inFeatures,
                                              round: { dtype.round($0) },
                                              x: xp.baseAddress!, rows: rows, y: y)
                    }
                }
            }
        }
    }
}
