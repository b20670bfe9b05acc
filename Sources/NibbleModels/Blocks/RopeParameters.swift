import NibbleFormats
import NibbleKernels

/// Rotary position settings of a checkpoint, read from either config.json style: the newer `rope_parameters`
/// object (`rope_theta`, `rope_type`, …) or the older top-level `rope_theta` with an optional `rope_scaling`.
public struct RopeParameters: Sendable, Equatable {
    /// How positions are scaled before the rotation.
    public enum Scaling: Sendable, Equatable {
        /// Plain RoPE (`rope_type` "default").
        case none
        /// Positions divided by `factor` ("linear").
        case linear(factor: Float)
        /// Llama 3's frequency-band scaling ("llama3").
        case llama3(factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float, originalMaxPositions: Int)
        /// Each inverse frequency divided by its own factor, `(headDim / 2)`: how a GGUF file carries Llama 3
        /// scaling (the `rope_freqs` tensor). Not a config.json `rope_type`.
        case frequencyFactors([Float])
    }

    /// Base of the rotation frequencies (`rope_theta`).
    public var theta: Float
    public var scaling: Scaling

    public init(theta: Float, scaling: Scaling = .none) {
        self.theta = theta
        self.scaling = scaling
    }

    /// Reads the settings; a `rope_type` Nibble does not apply is an error naming it.
    public init(fields: JSONFieldReader) throws {
        let nested = try fields.optionalObject("rope_parameters") ?? fields.optionalObject("rope_scaling")
        let rope = nested ?? JSONFieldReader(root: [:], path: fields.path)
        theta = Float(try rope.optionalDouble("rope_theta") ?? fields.optionalDouble("rope_theta") ?? 10000)
        let type = try rope.optionalString("rope_type") ?? rope.optionalString("type") ?? "default"
        switch type {
        case "default":
            scaling = .none
        case "linear":
            scaling = .linear(factor: Float(try rope.optionalDouble("factor") ?? 1))
        case "llama3":
            scaling = .llama3(factor: Float(try rope.optionalDouble("factor") ?? 1),
                              lowFrequencyFactor: Float(try rope.optionalDouble("low_freq_factor") ?? 1),
                              highFrequencyFactor: Float(try rope.optionalDouble("high_freq_factor") ?? 4),
                              originalMaxPositions: try rope.optionalInt("original_max_position_embeddings") ?? 8192)
        default:
            throw FormatError.invalidConfig(path: rope.path,
                                            reason: "rope_type '\(type)' is not supported (default, linear, llama3)")
        }
        try validate(path: rope.path)
    }

    /// Values that would turn every rotation into NaN or a silent no-op are refused, naming the field.
    private func validate(path: String) throws {
        func positive(_ name: String, _ value: Float) throws {
            guard value.isFinite && value > 0 else {
                throw FormatError.invalidConfig(path: path, reason: "\(name) must be a positive finite number, got \(value)")
            }
        }
        try positive("rope_theta", theta)
        switch scaling {
        case .none: break
        case .linear(let factor): try positive("factor", factor)
        case .llama3(let factor, let low, let high, let original):
            try positive("factor", factor)
            try positive("low_freq_factor", low)
            try positive("high_freq_factor", high)
            guard high > low else {
                throw FormatError.invalidConfig(path: path, reason: "high_freq_factor (\(high)) must exceed low_freq_factor (\(low))")
            }
            guard original > 0 else {
                throw FormatError.invalidConfig(path: path, reason: "original_max_position_embeddings must be positive, got \(original)")
            }
        case .frequencyFactors(let factors):
            for factor in factors { try positive("rope frequency factor", factor) }
        }
    }

    /// Settings from a GGUF file's `rope_freqs` tensor: plain RoPE with `theta`, each frequency divided by its
    /// factor. Factors that are not positive and finite, or not one per rotated pair, are refused.
    public static func frequencyFactors(_ factors: [Float], theta: Float, headDim: Int, path: String) throws -> RopeParameters {
        guard factors.count == headDim / 2 else {
            throw FormatError.invalidConfig(path: path, reason: "rope_freqs has \(factors.count) factors; heads of \(headDim) need \(headDim / 2)")
        }
        let parameters = RopeParameters(theta: theta, scaling: .frequencyFactors(factors))
        try parameters.validate(path: path)
        return parameters
    }

    /// The rotation for heads of width `headDim`.
    func embedding(headDim: Int) -> RotaryEmbedding {
        switch scaling {
        case .none:
            return RotaryEmbedding(headDim: headDim, theta: theta)
        case .linear(let factor):
            return RotaryEmbedding(headDim: headDim, theta: theta, linearFactor: factor)
        case .llama3(let factor, let low, let high, let original):
            return RotaryEmbedding(headDim: headDim, theta: theta, llama3Factor: factor, lowFrequencyFactor: low,
                                   highFrequencyFactor: high, originalMaxPositions: original)
        case .frequencyFactors(let factors):
            return RotaryEmbedding(headDim: headDim, theta: theta, frequencyFactors: factors)
        }
    }
}
