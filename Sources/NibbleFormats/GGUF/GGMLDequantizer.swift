import NibbleKernels

/// ggml block formats decoded to float32, value for value what gguf-py's `quants.py` reference dequantization
/// computes (same field layout, same float32 operations in the same order, no fused multiply-add).
public enum GGMLDequantizer {
    /// Decodes `count` elements of `type` from `bytes` (which must hold `count / blockSize` whole blocks).
    public static func dequantize(_ bytes: UnsafeRawBufferPointer, type: GGMLType, count: Int) -> [Float] {
        precondition(count % type.blockSize == 0 && bytes.count >= count / type.blockSize * type.blockBytes,
                     "caller checks the tensor size against its type")
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            dequantize(bytes, type: type, into: UnsafeMutableBufferPointer(rebasing: out[0..<count]))
            initialized = count
        }
    }

    /// Decodes `out.count` elements of `type` from `bytes` into `out`.
    public static func dequantize(_ bytes: UnsafeRawBufferPointer, type: GGMLType, into out: UnsafeMutableBufferPointer<Float>) {
        let count = out.count
        precondition(count % type.blockSize == 0 && bytes.count >= count / type.blockSize * type.blockBytes,
                     "caller checks the tensor size against its type")
        let blocks = count / type.blockSize
        let stride = type.blockBytes
        switch type {
        case .f32:
            for i in 0..<count { out[i] = Float(bitPattern: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        case .f16:
            for i in 0..<count { out[i] = f16ToF32(bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<count { out[i] = bf16ToF32(bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        default:
            for b in 0..<blocks {
                let block = UnsafeRawBufferPointer(rebasing: bytes[(b * stride)..<((b + 1) * stride)])
                let target = UnsafeMutableBufferPointer(rebasing: out[(b * type.blockSize)..<((b + 1) * type.blockSize)])
                decodeBlock(block, type: type, into: target)
            }
        }
    }

    @inline(__always)
    private static func half(_ block: UnsafeRawBufferPointer, _ offset: Int) -> Float {
        f16ToF32(block.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// One block; `out` has `type.blockSize` elements.
    static func decodeBlock(_ block: UnsafeRawBufferPointer, type: GGMLType, into out: UnsafeMutableBufferPointer<Float>) {
        switch type {
        case .f32, .f16, .bf16:
            preconditionFailure("plain float types have no blocks")
        case .q4_0:
            // d: f16 | qs: 16 bytes; element j is the low nibble of qs[j], element j + 16 the high one.
            let d = half(block, 0)
            for j in 0..<16 {
                let q = block[2 + j]
                out[j] = d * Float(Int(q & 0x0F) - 8)
                out[j + 16] = d * Float(Int(q >> 4) - 8)
            }
        case .q4_1:
            // d: f16 | m: f16 | qs: 16 bytes; x = d·q + m.
            let d = half(block, 0), m = half(block, 2)
            for j in 0..<16 {
                let q = block[4 + j]
                out[j] = d * Float(q & 0x0F) + m
                out[j + 16] = d * Float(q >> 4) + m
            }
        case .q5_0:
            // d: f16 | qh: u32 (bit j = fifth bit of element j) | qs: 16 bytes.
            let d = half(block, 0)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0..<16 {
                let q = block[6 + j]
                let lo = Int(q & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
                let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = d * Float(lo - 16)
                out[j + 16] = d * Float(hi - 16)
            }
        case .q5_1:
            // d: f16 | m: f16 | qh: u32 | qs: 16 bytes.
            let d = half(block, 0), m = half(block, 2)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0..<16 {
                let q = block[8 + j]
                let lo = Int(q & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
                let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = d * Float(lo) + m
                out[j + 16] = d * Float(hi) + m
            }
        case .q8_0:
            // d: f16 | qs: 32 × int8.
            let d = half(block, 0)
            for j in 0..<32 { out[j] = Float(Int8(bitPattern: block[2 + j])) * d }
        case .q4_K:
            // d, dmin: f16 | scales: 12 bytes (8 six-bit scales and mins) | qs: 128 bytes, 4 groups of 32 bytes,
            // low nibbles for sub-block 2g, high nibbles for 2g + 1.
            let d = half(block, 0), dmin = half(block, 2)
            let (sc, mn) = scaleMin(block, at: 4)
            for sub in 0..<8 {
                let scale = d * Float(sc[sub]), offset = dmin * Float(mn[sub])
                let group = 16 + (sub / 2) * 32, shift = UInt8((sub % 2) * 4)
                for l in 0..<32 {
                    let q = (block[group + l] >> shift) & 0x0F
                    out[sub * 32 + l] = scale * Float(q) - offset
                }
            }
        case .q5_K:
            // d, dmin: f16 | scales: 12 | qh: 32 bytes (bit s of qh[l] = fifth bit of sub-block s, element l) | qs: 128.
            let d = half(block, 0), dmin = half(block, 2)
            let (sc, mn) = scaleMin(block, at: 4)
            let qh = 16, qs = 16 + 32
            for sub in 0..<8 {
                let scale = d * Float(sc[sub]), offset = dmin * Float(mn[sub])
                let group = qs + (sub / 2) * 32, shift = UInt8((sub % 2) * 4)
                for l in 0..<32 {
                    let low = (block[group + l] >> shift) & 0x0F
                    let high = (block[qh + l] >> UInt8(sub)) & 1
                    out[sub * 32 + l] = scale * Float(low | high << 4) - offset
                }
            }
        case .q6_K:
            // ql: 128 | qh: 64 | scales: 16 × int8 | d: f16. Two halves of 128 elements; in half h, element
            // 64·s + p takes nibble s of ql[64h + p], and element 32·t + l takes bits 2t of qh[32h + l].
            let d = half(block, 208)
            for h in 0..<2 {
                for i in 0..<128 {
                    let s = i / 64, p = i % 64, t = i / 32, l = i % 32
                    let low = (block[64 * h + p] >> UInt8(4 * s)) & 0x0F
                    let high = (block[128 + 32 * h + l] >> UInt8(2 * t)) & 0x03
                    let index = 128 * h + i
                    let scale = d * Float(Int8(bitPattern: block[192 + index / 16]))
                    out[index] = scale * Float(Int(low | high << 4) - 32)
                }
            }
        }
    }

    /// The eight 6-bit scales and mins packed in 12 bytes (`get_scale_min` of the K-quants).
    private static func scaleMin(_ block: UnsafeRawBufferPointer, at start: Int) -> (scales: [UInt8], mins: [UInt8]) {
        var scales = [UInt8](repeating: 0, count: 8), mins = [UInt8](repeating: 0, count: 8)
        for j in 0..<4 {
            let d = block[start + j], m = block[start + 4 + j], md = block[start + 8 + j]
            scales[j] = d & 0x3F
            mins[j] = m & 0x3F
            scales[j + 4] = (md & 0x0F) | ((d >> 2) & 0x30)
            mins[j + 4] = (md >> 4) | ((m >> 2) & 0x30)
        }
        return (scales, mins)
    }
}
