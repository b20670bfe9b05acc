import Foundation

/// Rotary position embedding in the "rotate half" layout Hugging Face LLaMA checkpoints use:
/// each head vector's first half pairs with its second half.
public struct RotaryEmbedding: Sendable {
    /// Width of one head.
    public let headDim: Int
    /// Inverse frequencies `(headDim / 2)`.
    public let inverseFrequencies: [Float]

    /// Plain RoPE with `theta`; `linearFactor` > 1 stretches positions ("linear" scaling).
    public init(headDim: Int, theta: Float, linearFactor: Float = 1) {
        self.headDim = headDim
        let half = headDim / 2
        inverseFrequencies = (0..<half).map { i in
            Float(1.0 / pow(Double(theta), Double(2 * i) / Double(headDim))) / linearFactor
        }
    }

    /// Llama 3 scaling: long wavelengths are divided by `factor`, short ones kept, the band between blended.
    public init(headDim: Int, theta: Float, llama3Factor factor: Float, lowFrequencyFactor: Float,
                highFrequencyFactor: Float, originalMaxPositions: Int) {
        var plain = RotaryEmbedding(headDim: headDim, theta: theta).inverseFrequencies
        let lowWavelength = Float(originalMaxPositions) / lowFrequencyFactor
        let highWavelength = Float(originalMaxPositions) / highFrequencyFactor
        for i in plain.indices {
            let wavelength = 2 * Float.pi / plain[i]
            if wavelength > lowWavelength {
                plain[i] /= factor
            } else if wavelength >= highWavelength {
                let smooth = (Float(originalMaxPositions) / wavelength - lowFrequencyFactor)
                    / (highFrequencyFactor - lowFrequencyFactor)
                plain[i] = (1 - smooth) * plain[i] / factor + smooth * plain[i]
            }
        }
        self.headDim = headDim
        inverseFrequencies = plain
    }

    /// Plain RoPE with each inverse frequency divided by its own factor (llama.cpp's `rope_freqs` tensor, which
    /// its converter writes for Llama 3 scaling): `factors` has `headDim / 2` entries.
    public init(headDim: Int, theta: Float, frequencyFactors factors: [Float]) {
        precondition(factors.count == headDim / 2, "one factor per rotated pair")
        self.headDim = headDim
        inverseFrequencies = zip(RotaryEmbedding(headDim: headDim, theta: theta).inverseFrequencies, factors).map { $0 / $1 }
    }

    /// Rotates a row's queries `(heads, headDim)` and keys `(kvHeads, headDim)` for `position`: the same as
    /// `apply` on each, with each angle's cosine and sine computed once for both.
    @inlinable
    public func apply(queries q: UnsafeMutablePointer<Float>, heads: Int, keys k: UnsafeMutablePointer<Float>, kvHeads: Int,
                      position: Int) {
        let half = headDim / 2
        inverseFrequencies.withUnsafeBufferPointer { frequencies in
            for i in 0..<half {
                let angle = Float(position) * frequencies[i]
                let c = cosf(angle), s = sinf(angle)
                for h in 0..<heads {
                    let v = q + h * headDim
                    let a = v[i], b = v[i + half]
                    v[i] = a * c - b * s
                    v[i + half] = b * c + a * s
                }
                for h in 0..<kvHeads {
                    let v = k + h * headDim
                    let a = v[i], b = v[i + half]
                    v[i] = a * c - b * s
                    v[i + half] = b * c + a * s
                }
            }
        }
    }

    /// Rotates `heads` consecutive head vectors of `x` (`(heads, headDim)`) in place for `position`.
    @inlinable
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        let half = headDim / 2
        inverseFrequencies.withUnsafeBufferPointer { frequencies in
            for i in 0..<half {
                let angle = Float(position) * frequencies[i]
                let c = cosf(angle), s = sinf(angle)
                for h in 0..<heads {
                    let v = x + h * headDim
                    let a = v[i], b = v[i + half]
                    v[i] = a * c - b * s
                    v[i + half] = b * c + a * s
                }
            }
        }
    }
}
