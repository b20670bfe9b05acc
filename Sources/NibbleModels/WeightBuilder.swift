import NibbleFormats
import NibbleKernels

/// Turns raw checkpoint tensors into the weights the model computes with: the single place where storage
/// format decisions are made, so model code never sees dtypes.
struct WeightBuilder {
    let archive: SafetensorsArchive
    let config: ModelConfig
    /// A LoRA adapter merged into the base weights before anything is quantized.
    let lora: LoRAAdapter?

    /// A linear layer `name` (without `.weight`), expected to be `(outFeatures, inFeatures)`.
    func linear(_ name: String, outFeatures: Int, inFeatures: Int, hasBias: Bool, memory: inout WeightMemoryReport) throws -> Linear {
        let view = try archive.tensor(name + ".weight")
        let weight: DenseWeight
        if let delta = lora?.delta(for: name) {
            guard delta.count == outFeatures * inFeatures else {
                throw ModelError.invalidAdapter(path: lora!.directory.path,
                                                reason: "LoRA update for '\(name)' does not match its [\(outFeatures), \(inFeatures)] weight")
            }
            // The merged weight is no longer representable in the checkpoint's half type: keep it in f32.
            var merged = try dense(view, outFeatures: outFeatures, inFeatures: inFeatures).floats()
            for i in merged.indices { merged[i] += delta[i] }
            weight = DenseWeight(f32: merged, outFeatures: outFeatures, inFeatures: inFeatures)
        } else {
            weight = try dense(view, outFeatures: outFeatures, inFeatures: inFeatures)
        }
        memory.add(bytes: weight.storageBytes, parameters: outFeatures * inFeatures, tier: "cpu",
                   format: weight.formatName, moduleKind: Self.moduleKind(name))
        var bias: [Float]?
        if hasBias {
            bias = try vector(name + ".bias", count: outFeatures, memory: &memory)
        }
        return Linear(weight: weight, bias: bias)
    }

    /// A dense matrix kept in its stored float format.
    func dense(_ view: TensorView, outFeatures: Int, inFeatures: Int) throws -> DenseWeight {
        guard view.shape == [outFeatures, inFeatures] else {
            throw ModelError.invalidWeight(name: view.name, reason: "shape \(view.shape), expected [\(outFeatures), \(inFeatures)]")
        }
        let format: DenseFormat
        switch view.dtype {
        case .f32: format = .f32
        case .f16: format = .f16
        case .bf16: format = .bf16
        default: throw ModelError.invalidWeight(name: view.name, reason: "dtype \(view.dtype.rawValue) is not a float type")
        }
        return DenseWeight(copying: view.bytes, format: format, outFeatures: outFeatures, inFeatures: inFeatures)
    }

    /// A float32 vector (norm gains, biases), widened from the stored type.
    func vector(_ name: String, count: Int, memory: inout WeightMemoryReport) throws -> [Float] {
        let view = try archive.tensor(name)
        guard view.shape == [count], view.dtype.isFloatingPoint else {
            throw ModelError.invalidWeight(name: name, reason: "\(view.dtype.rawValue) \(view.shape), expected a float vector [\(count)]")
        }
        memory.add(bytes: count * 4, parameters: count, tier: "cpu", format: "f32", moduleKind: Self.moduleKind(name))
        return view.floats()
    }

    /// The kind a module is reported under ("q_proj", "embed_tokens", "norm", …).
    static func moduleKind(_ name: String) -> String {
        let parts = name.split(separator: ".")
        guard var last = parts.last else { return name }
        if last == "weight" || last == "bias", parts.count >= 2 { last = parts[parts.count - 2] }
        if last.hasSuffix("layernorm") || last == "norm" { return "norm" }
        return String(last)
    }
}
