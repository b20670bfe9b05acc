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

extension Linear {
    /// Several linears over the same input `x (rows, in)`, each into its own output `(rows, out)`, in one
    /// parallel dispatch when every weight format can run by ranges of output features (else one after the
    /// other). Same results as calling each.
    static func apply(_ linears: [(linear: Linear, output: UnsafeMutablePointer<Float>)], to x: UnsafePointer<Float>,
                      rows: Int) {
        var products: [PreparedProduct] = []
        products.reserveCapacity(linears.count)
        for (linear, output) in linears {
            guard let product = linear.weight.prepareProduct(x, rows: rows, into: output) else { break }
            products.append(product)
        }
        if products.count == linears.count {
            PreparedProduct.runAll(products)
            for (linear, output) in linears { linear.addBias(to: output, rows: rows) }
        } else {
            for product in products { product.finish() }
            for (linear, output) in linears { linear(x, rows: rows, into: output) }
        }
    }

    /// y `(rows, out)` += b.
    private func addBias(to y: UnsafeMutablePointer<Float>, rows: Int) {
        guard let bias else { return }
        let m = weight.outFeatures
        for r in 0..<rows { for o in 0..<m { y[r * m + o] += bias[o] } }
    }
}
