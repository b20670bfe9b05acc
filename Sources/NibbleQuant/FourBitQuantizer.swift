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
        indices[indices.count - 1] = boundaries.withUnsafeBufferPointer { mids in
            sortedToIndex.withUnsafeBufferPointer { bucket(0, mids.baseAddress!, $0.baseAddress!) }
        }
        // Blocks are independent, so a checkpoint's worth of them is shared across cores; this is most of the
        // time a 4-bit load takes.
        absmax.withUnsafeMutableBufferPointer { absmax in
            indices.withUnsafeMutableBufferPointer { indices in
                boundaries.withUnsafeBufferPointer { mids in
                    sortedToIndex.withUnsafeBufferPointer { map in
                        Parallel.forRange(blocks, work: n * 8) { range in
                            for b in range {
                                quantizeBlock(values, b * blocksize, min((b + 1) * blocksize, n),
                                              full: (b + 1) * blocksize <= n, absmax: &absmax[b], indices: indices,
                                              mids.baseAddress!, map.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
        var packed = [UInt8](repeating: 0, count: indices.count / 2) // ((n+1)/2)
        packed.withUnsafeMutableBufferPointer { packed in
            indices.withUnsafeBufferPointer { indices in
                for k in 0..<packed.count { packed[k] = indices[2 * k] << 4 | indices[2 * k + 1] }
            }
        }
        return (packed, absmax)
    }

    /// Codes of the elements [start, end) of one block into `indices`, and the block's absmax.
    @inline(__always)
    static func quantizeBlock(_ values: UnsafeBufferPointer<Float>, _ start: Int, _ end: Int, full: Bool,
                              absmax: inout Float, indices: UnsafeMutableBufferPointer<UInt8>,
                              _ mids: UnsafePointer<Float>, _ map: UnsafePointer<UInt8>) {
        var am: Float = 0
        for i in start..<end { am = max(am, abs(values[i])) }
        if full {
            // Full block: multiply by an f32 reciprocal, like the vectorized kernel.
            absmax = am
            let inv = 1 / max(am, 1e-38)
            var i = start
            // Sixteen at a time, without branches: the code is the count of boundaries below the scaled value
            // (clamping to [-1, 1] cannot change that count, and a NaN counts none, as in `bucket`).
            if let base = values.baseAddress {
                while i + 16 <= end {
                    let scaled = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<Float>.self) * inv
                    var count = SIMD16<Int32>()  // (16)
                    for k in 0..<15 {
                        count &+= SIMD16<Int32>().replacing(with: 1, where: SIMD16<Float>(repeating: mids[k]) .< scaled)
                    }
                    for j in 0..<16 { indices[i + j] = map[Int(count[j])] }
                    i += 16
                }
            }
            for i in i..<end {
                let s = min(max(values[i] * inv, -1), 1)
                indices[i] = bucket(s, mids, map)
            }
        } else {
            // Tail block: the scalar remainder loop divides, and stores the clamped absmax.
            let clamped = max(am, 1e-38)
            absmax = am == 0 ? 0 : clamped
            for i in start..<end {
                let s = min(max(values[i] / clamped, -1), 1)
                indices[i] = bucket(s, mids, map)
            }
        }
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
    /// The boundaries are sorted, so `mids[k] < s` holds for a prefix of k: four halvings find its length
    /// (a NaN compares false everywhere and lands at 0, as a linear count would).
    @inline(__always)
    static func bucket(_ s: Float, _ mids: UnsafePointer<Float>, _ map: UnsafePointer<UInt8>) -> UInt8 {
        var p = 0
        if mids[7] < s { p = 8 }
        if mids[p + 3] < s { p += 4 }
        if mids[p + 1] < s { p += 2 }
        if mids[p] < s { p += 1 }
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
