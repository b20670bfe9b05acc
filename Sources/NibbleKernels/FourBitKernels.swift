/// Hot loops of 4-bit matmuls.
public enum FourBitKernels {
    /// y (rows, out) = x (rows, in) · dequant(W)ᵀ, W stored as packed nibbles ((out*in+1)/2) with per-block absmax.
    /// Each weight row is dequantized once into a scratch row (in) and dotted with every input row.
    public static func matmul(packed: UnsafePointer<UInt8>, absmax: UnsafePointer<Float>, code: UnsafePointer<Float>,
                              blocksize: Int, outFeatures: Int, inFeatures: Int, round: (Float) -> Float,
                              x: UnsafePointer<Float>, rows: Int, y: UnsafeMutablePointer<Float>) {
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: inFeatures)  // (in) one dequantized row
        defer { scratch.deallocate() }
        for o in 0..<outFeatures {
            let base = o * inFeatures
            for j in 0..<inFeatures {
                let i = base + j
                let byte = packed[i >> 1]
                let nib = (i & 1) == 0 ? byte >> 4 : byte & 0x0F
                scratch[j] = round(code[Int(nib)] * absmax[i / blocksize])
            }
            for r in 0..<rows {
                let xr = x + r * inFeatures
                var acc: Float = 0
                for j in 0..<inFeatures { acc += xr[j] * scratch[j] }
                y[r * outFeatures + o] = acc
            }
        }
    }
}
