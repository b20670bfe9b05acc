import NibbleKernels

/// LLM.int8() row-wise quantization as bitsandbytes 0.50.2 does it on CPU.
public enum Int8Quantizer {
    /// bnb's dequantization constant: f32 0x388206aa (not 1/16129, which differs in the last bit).
    public static let mmDequantScale = Float(bitPattern: 0x3882_06AA)

    /// Quantizes rows `(rows, cols)` (values already at fp16 precision): SCB = row absmax,
    /// CB = round-half-even(x * ((1/SCB)*127)). Returns CB `(rows, cols)` and SCB `(rows)`.
    public static func quantizeRows(_ w: UnsafeBufferPointer<Float>, rows: Int, cols: Int) -> (cb: [Int8], scb: [Float]) {
        var cb = [Int8](repeating: 0, count: rows * cols)  // (rows, cols)
        var scb = [Float](repeating: 0, count: rows)       // (rows)
        // Rows are independent; a load quantizes a whole checkpoint, so they are shared across cores.
        cb.withUnsafeMutableBufferPointer { cb in
            scb.withUnsafeMutableBufferPointer { scb in
                Parallel.forRange(rows, work: rows * cols * 4) { range in
                    for r in range {
                        let row = UnsafeBufferPointer(rebasing: w[(r * cols)..<((r + 1) * cols)])
                        var am: Float = 0
                        for v in row { am = max(am, abs(v)) }
                        scb[r] = am
                        let scale = (1 / am) * 127
                        for c in 0..<cols {
                            let v = (row[c] * scale).rounded(.toNearestOrEven)
                            cb[r * cols + c] = v.isNaN ? 0 : Int8(max(-127, min(127, v)))
                        }
                    }
                }
            }
        }
        return (cb, scb)
    }

    /// Quantizes f32 weights `(out, in)` exactly as `Int8Params` does: first to fp16, then row-wise.
    public static func quantize(weight: UnsafeBufferPointer<Float>, outFeatures: Int, inFeatures: Int) -> (cb: [Int8], scb: [Float]) {
        let count = outFeatures * inFeatures
        let half = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in  // (out, in)
            if let src = weight.baseAddress, let dst = buffer.baseAddress {
                FloatRounding.f16.round(src, into: dst, count: count)
            }
            initialized = count
        }
        return half.withUnsafeBufferPointer { quantizeRows($0, rows: outFeatures, cols: inFeatures) }
    }
}
