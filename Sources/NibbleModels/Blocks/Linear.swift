import NibbleKernels

/// A linear layer: a weight in any storage format plus an optional float32 bias `(outFeatures)`.
public struct Linear: Sendable {
    public let weight: any LinearWeight
    /// Bias `(outFeatures)`, when the checkpoint has one.
    public let bias: [Float]?

    public init(weight: any LinearWeight, bias: [Float]? = nil) {
        precondition(bias == nil || bias!.count == weight.outFeatures, "bias is not (outFeatures)")
        self.weight = weight
        self.bias = bias
    }

    /// y `(rows, out)` = x `(rows, in)` · Wᵀ + b.
    func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        weight.apply(x, rows: rows, into: y)
        if let bias {
            let m = weight.outFeatures
            for r in 0..<rows { for o in 0..<m { y[r * m + o] += bias[o] } }
        }
    }
}
