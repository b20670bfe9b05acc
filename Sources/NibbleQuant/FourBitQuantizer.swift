import NibbleKernels

/// The two 4-bit codes of bitsandbytes.
public enum FourBitQuantType: String, Sendable, Codable, CaseIterable {
    case nf4, fp4

    /// The code table in bnb index order. (16)
    public var code: [Float] { self == .nf4 ? CodeTables.nf4 : CodeTables.fp4 }
}

/// The dtype that dequantized weights and inputs are rounded to before the f32 multiply.
public enum ComputeDType: String, Sendable, Codable, CaseIterable {
    case float32, float16, bfloat16

    /// Rounds an f32 value to this dtype (round-to-nearest-even) and widens it back.
    @inlinable public func round(_ x: Float) -> Float {
        switch self {
        case .float32: return x
        case .float16: return roundToF16(x)
        case .bfloat16: return roundToBF16(x)
        }
    }
}

/// Blockwise 4-bit quantization as bitsandbytes 0.50.2 does it on CPU.
public enum FourBitQuantizer {
    /// Default block size of `Linear4bit`.
    public static let defaultBlocksize = 64

    /// Quantizes `values` (flattened row-major) in blocks.
    /// Returns packed codes `((n+1)/2)` with the first element in the high nibble, and absmax `(ceil(n/blocksize))`.
    public static func quantize(_ values: UnsafeBufferPointer<Float>, type: FourBitQuantType,
                                blocksize: Int = defaultBlocksize) -> (packed: [UInt8], absmax: [Float]) {
        let n = values.count
        let blocks = (n + blocksize - 1) / blocksize
        var absmax = [Float](repeating: 0, count: blocks)      // (blocks)
        var indices = [UInt8](repeating: 0, count: n + (n & 1)) // (n rounded up to even)
        let (boundaries, sortedToIndex) = bucketTable(type)
        // Padding nibble: the code of 0.
        indices[indices.count - 1] = bucket(0, boundaries, sortedToIndex)
        for b in 0..<blocks {
            let start = b * blocksize, end = min(start + blocksize, n)
            var am: Float = 0
            for i in start..<end { am = max(am, abs(values[i])) }
            if end - start == blocksize {
                // Full block: multiply by an f32 reciprocal, like the vectorized kernel.
                absmax[b] = am
                let inv = 1 / max(am, 1e-38)
                for i in start..<end {
                    let s = min(max(values[i] * inv, -1), 1)
                    indices[i] = bucket(s, boundaries, sortedToIndex)
                }
            } else {
                // Tail block: the scalar remainder loop divides, and stores the clamped absmax.
                let clamped = max(am, 1e-38)
                absmax[b] = am == 0 ? 0 : clamped
                for i in start..<end {
                    let s = min(max(values[i] / clamped, -1), 1)
                    indices[i] = bucket(s, boundaries, sortedToIndex)
                }
            }
        }
        var packed = [UInt8](repeating: 0, count: indices.count / 2) // ((n+1)/2)
        for k in 0..<packed.count { packed[k] = indices[2 * k] << 4 | indices[2 * k + 1] }
        return (packed, absmax)
    }

    /// Midpoints of the sorted code (15) and the map from sorted position to bnb index (16).
    static func bucketTable(_ type: FourBitQuantType) -> ([Float], [UInt8]) {
        let sortedToIndex: [UInt8] = type == .nf4
            ? Array(0..<16)
            : [11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3]
        let sorted = sortedToIndex.map { type.code[Int($0)] }
        let mids = (0..<15).map { (sorted[$0] + sorted[$0 + 1]) * 0.5 }
        return (mids, sortedToIndex)
    }

    /// torch.bucketize (right=False): the count of boundaries strictly below `s`, so exact ties go lower.
    @inline(__always)
    static func bucket(_ s: Float, _ mids: [Float], _ map: [UInt8]) -> UInt8 {
        var p = 0
        while p < 15 && mids[p] < s { p += 1 }
        return map[p]
    }

    /// Dequantizes `count` values: `code[nibble] * absmax[i / blocksize]` in f32, then rounded to `dtype`.
    public static func dequantize(packed: [UInt8], absmax: [Float], count: Int, type: FourBitQuantType,
                                  blocksize: Int = defaultBlocksize, dtype: ComputeDType = .float32) -> [Float] {
        var code = type.code
        if count % 2 == 1 && type == .fp4 {
            // bitsandbytes dequantizes odd-length tensors on its scalar path, whose FP4 code 8 is +0 (the vector
            // path applies the sign bit and yields −0); reproduce both so results match bit for bit.
            code[8] = 0
        }
        var out = [Float](repeating: 0, count: count) // (count)
        for i in 0..<count {
            let byte = packed[i >> 1]
            let nib = (i & 1) == 0 ? byte >> 4 : byte & 0x0F
            out[i] = dtype.round(code[Int(nib)] * absmax[i / blocksize])
        }
        return out
    }
}
