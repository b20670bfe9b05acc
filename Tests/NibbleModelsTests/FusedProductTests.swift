import NibbleKernels
import NibbleQuant
import NibbleTestSupport
import Testing

/// Products that share one parallel dispatch (`PreparedProduct.runAll`, used for q/k/v and gate/up) give the
/// bits each product gives alone, for every weight format, at the row counts of batched decode; and several-row
/// products agree with a float64 reference over the exactly dequantized weights.
@Suite struct FusedProductTests {
    /// Output widths like a block's q, k and v (k and v narrower, one width not a multiple of 4).
    static let outs = [48, 16, 18]
    static let inFeatures = 96

    static func random(_ count: Int, _ rng: inout SeededRandom, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in Float.random(in: -scale...scale, using: &rng) }
    }

    /// Three weights of one format, with the float values they stand for `(out, in)`.
    static func weights(_ format: String, _ rng: inout SeededRandom) -> [(any LinearWeight, [Float])] {
        outs.map { out in
            let values = random(out * inFeatures, &rng)
            switch format {
            case "f32":
                return (DenseWeight(f32: values, outFeatures: out, inFeatures: inFeatures), values)
            case "f16", "bf16":
                let bits = values.map { format == "f16" ? f32ToF16($0) : f32ToBF16($0) }
                let weight = bits.withUnsafeBytes {
                    DenseWeight(copying: $0, format: format == "f16" ? .f16 : .bf16, outFeatures: out, inFeatures: inFeatures)
                }
                return (weight, bits.map { format == "f16" ? f16ToF32($0) : bf16ToF32($0) })
            case "int8":
                let weight = values.withUnsafeBufferPointer { Int8Weight(quantizing: $0, outFeatures: out, inFeatures: inFeatures) }
                return (weight, weight.dequantized())
            default:  // "nf4", "fp4", "nf4+dq/f16", "fp4+dq/bf16"
                let type: FourBitQuantType = format.hasPrefix("nf4") ? .nf4 : .fp4
                let dtype: ComputeDType = format.hasSuffix("/f16") ? .float16 : format.hasSuffix("/bf16") ? .bfloat16 : .float32
                let weight = values.withUnsafeBufferPointer {
                    FourBitWeight(quantizing: $0, outFeatures: out, inFeatures: inFeatures, quantType: type,
                                  doubleQuant: format.contains("+dq"), computeDType: dtype)
                }
                return (weight, weight.dequantized())
            }
        }
    }

    static let formats = ["f32", "f16", "bf16", "int8", "nf4", "fp4", "nf4+dq/f16", "fp4+dq/bf16"]

    @Test(arguments: formats)
    func sharedDispatchGivesTheBitsOfSeparateProducts(format: String) {
        var rng = SeededRandom(seed: 7)
        let weights = Self.weights(format, &rng)
        for rows in [1, 2, 3, 5, 8, 16] {
            // Inputs with a few large entries, so LLM.int8 takes its outlier path.
            var x = Self.random(rows * Self.inFeatures, &rng)
            x[3] = 9
            x[(rows - 1) * Self.inFeatures + 40] = -7.5
            var separate = weights.map { [Float](repeating: .nan, count: rows * $0.0.outFeatures) }
            // (rows, out) of each weight, written by the shared dispatch.
            let outputs = weights.map { UnsafeMutablePointer<Float>.allocate(capacity: rows * $0.0.outFeatures) }
            defer { for output in outputs { output.deallocate() } }
            x.withUnsafeBufferPointer { xp in
                for i in weights.indices {
                    separate[i].withUnsafeMutableBufferPointer { weights[i].0.apply(xp.baseAddress!, rows: rows, into: $0.baseAddress!) }
                }
                let products = weights.indices.map { weights[$0].0.prepareProduct(xp.baseAddress!, rows: rows, into: outputs[$0]) }
                #expect(products.allSatisfy { $0 != nil }, "\(format) runs by output ranges")
                PreparedProduct.runAll(products.compactMap { $0 })
            }
            let shared = weights.indices.map { Array(UnsafeBufferPointer(start: outputs[$0], count: rows * weights[$0].0.outFeatures)) }
            for i in weights.indices {
                #expect(zip(separate[i], shared[i]).allSatisfy { $0.bitPattern == $1.bitPattern },
                        "\(format) rows \(rows) weight \(i)")
            }
            // Against float64 over the dequantized weights (inputs rounded as the format's kernels round them).
            func rounding(_ value: Float) -> Float {
                if format.hasSuffix("/f16") { return roundToF16(value) }
                if format.hasSuffix("/bf16") { return roundToBF16(value) }
                return value
            }
            for i in weights.indices where format != "int8" {
                let (weight, values) = weights[i]
                let out = weight.outFeatures
                var worst: Double = 0
                for r in 0..<rows {
                    for o in 0..<out {
                        var sum = 0.0
                        for j in 0..<Self.inFeatures {
                            sum += Double(rounding(x[r * Self.inFeatures + j])) * Double(values[o * Self.inFeatures + j])
                        }
                        worst = max(worst, abs(Double(shared[i][r * out + o]) - sum))
                    }
                }
                #expect(worst < 1e-4, "\(format) rows \(rows) weight \(i): \(worst)")
            }
        }
    }
}
