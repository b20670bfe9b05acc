/// Hot loops of LLM.int8() matmuls.
public enum Int8Kernels {
    /// into (rows, out) = a (rows, inner) · bᵀ with b (out, inner); exact int32 accumulation.
    public static func matmulInt32(a: UnsafePointer<Int8>, b: UnsafePointer<Int8>, rows: Int, out: Int, inner: Int,
                                   into: UnsafeMutablePointer<Int32>) {
        for r in 0..<rows {
            let ar = a + r * inner
            for o in 0..<out {
                let br = b + o * inner
                var acc: Int32 = 0
                for j in 0..<inner { acc &+= Int32(ar[j]) * Int32(br[j]) }
                into[r * out + o] = acc
            }
        }
    }
}
