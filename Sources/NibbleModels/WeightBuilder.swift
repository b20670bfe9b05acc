import NibbleFormats
import NibbleKernels
import NibbleQuant

/// Turns raw checkpoint tensors into the weights the model computes with: the single place where storage
/// format decisions are made, so model code never sees dtypes.
struct WeightBuilder {
    /// Where tensors are read from (a safetensors checkpoint or a GGUF file).
    let archive: any TensorSource
    /// The model family's module names and the number of decoder blocks.
    let layout: DecoderLayout
    let layerCount: Int
    /// The family's sanitizing hook: stored tensors that are not model weights (not counted by placement).
    let dropsTensor: @Sendable (String) -> Bool
    /// A LoRA adapter merged into the base weights before anything is quantized.
    let lora: LoRAAdapter?
    /// Tier of every module; offloaded ones stay mapped from the checkpoint.
    var plan: PlacementPlan = PlacementPlan(assignments: [])
    /// What to quantize, from the bitsandbytes config (nil: everything stays in its stored float format).
    var quantization: QuantizationPlan?
    /// Set when the checkpoint was saved already quantized: its linear weights are read, not quantized.
    var prequantized: PrequantizedCheckpoint?

    /// A linear layer `name` (without `.weight`), expected to be `(outFeatures, inFeatures)`.
    func linear(_ name: String, outFeatures: Int, inFeatures: Int, hasBias: Bool, memory: inout WeightMemoryReport) throws -> Linear {
        if let prequantized, let stored = try prequantized.storedLinear(name, outFeatures: outFeatures, inFeatures: inFeatures) {
            return try storedLinear(name, stored: stored, outFeatures: outFeatures,
                                    inFeatures: inFeatures, hasBias: hasBias, memory: &memory)
        }
        let tier = plan.tier(of: name)
        let offloaded = tier == .disk && lora?.modules[name] == nil
        let view = offloaded ? try archive.offloadableTensor(name + ".weight") : try archive.tensor(name + ".weight")
        let weight: DenseWeight
        if offloaded {
            weight = try dense(view, outFeatures: outFeatures, inFeatures: inFeatures, mapped: true)
        } else if let delta = lora?.delta(for: name) {
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
        var final: any LinearWeight = weight
        if !weight.isMapped, let quantization, quantization.shouldQuantize(moduleName: name) {
            // Quantized from the float values (after any LoRA merge), as bitsandbytes quantizes the loaded tensor.
            let values = weight.floats()
            let dtype = weight.format == .f16 ? "float16" : weight.format == .bf16 ? "bfloat16" : "float32"
            if let quantized = values.withUnsafeBufferPointer({
                quantization.quantize(weight: $0, outFeatures: outFeatures, inFeatures: inFeatures, moduleName: name,
                                      originalDType: dtype)
            }) {
                final = quantized
            }
        }
        memory.add(bytes: final.storageBytes, parameters: outFeatures * inFeatures, tier: weight.isMapped ? "disk" : "cpu",
                   format: final.formatName, moduleKind: Self.moduleKind(name))
        var bias: [Float]?
        if hasBias {
            bias = try vector(name + ".bias", count: outFeatures, memory: &memory)
        }
        return Linear(weight: final, bias: bias)
    }

    /// A linear layer whose weight the checkpoint holds already quantized.
    private func storedLinear(_ name: String, stored: StoredQuantizedLinear, outFeatures: Int,
                              inFeatures: Int, hasBias: Bool, memory: inout WeightMemoryReport) throws -> Linear {
        let onDisk = plan.tier(of: name) == .disk && lora?.modules[name] == nil
        let weight: any LinearWeight
        if let delta = lora?.delta(for: name) {
            guard delta.count == outFeatures * inFeatures else {
                throw ModelError.invalidAdapter(path: lora!.directory.path,
                                                reason: "LoRA update for '\(name)' does not match its [\(outFeatures), \(inFeatures)] weight")
            }
            // As PEFT merges into a quantized base: dequantize, add the update, quantize again with the settings
            // the weight was stored with.
            switch stored {
            case .fourBit(let fourBit):
                var merged = fourBit.materialize().dequantized()  // (out, in)
                for i in merged.indices { merged[i] += delta[i] }
                let state = fourBit.state
                weight = merged.withUnsafeBufferPointer {
                    FourBitWeight(quantizing: $0, outFeatures: outFeatures, inFeatures: inFeatures, quantType: state.quantType,
                                  doubleQuant: state.nested != nil, blocksize: state.blocksize,
                                  computeDType: fourBit.computeDType, originalDType: state.dtype)
                }
            case .int8(let int8):
                var merged = int8.materialize().dequantized()  // (out, in)
                for i in merged.indices { merged[i] += delta[i] }
                weight = merged.withUnsafeBufferPointer {
                    Int8Weight(quantizing: $0, outFeatures: outFeatures, inFeatures: inFeatures, threshold: int8.threshold)
                }
            }
        } else if onDisk {
            weight = OffloadedQuantizedWeight(stored: stored, outFeatures: outFeatures, inFeatures: inFeatures)
        } else {
            weight = stored.materialize()
            // The copy is what stays resident; the mapping's pages are no longer needed.
            stored.releasePages()
        }
        memory.add(bytes: weight.storageBytes, parameters: outFeatures * inFeatures, tier: onDisk ? "disk" : "cpu",
                   format: weight.formatName, moduleKind: Self.moduleKind(name))
        let bias = hasBias ? try vector(name + ".bias", count: outFeatures, memory: &memory) : nil
        return Linear(weight: weight, bias: bias)
    }

    /// A dense matrix kept in its stored float format.
    func dense(_ view: TensorView, outFeatures: Int, inFeatures: Int, mapped: Bool = false) throws -> DenseWeight {
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
        if mapped {
            return DenseWeight(mapped: view.bytes, format: format, outFeatures: outFeatures, inFeatures: inFeatures, owner: view.file)
        }
        let weight = DenseWeight(copying: view.bytes, format: format, outFeatures: outFeatures, inFeatures: inFeatures)
        // The copy is what stays resident; dropping the mapping's pages keeps peak RSS near the weights' size
        // instead of twice it.
        releasePages(view.bytes.baseAddress!, count: view.bytes.count)
        return weight
    }

    /// A float32 vector (norm gains, biases), widened from the stored type.
    func vector(_ name: String, count: Int, memory: inout WeightMemoryReport) throws -> [Float] {
        let view = try archive.tensor(name)
        guard view.shape == [count], view.dtype.isFloatingPoint else {
            throw ModelError.invalidWeight(name: name, reason: "\(view.dtype.rawValue) \(view.shape), expected a float vector [\(count)]")
        }
        memory.add(bytes: count * 4, parameters: count, tier: "cpu", format: "f32", moduleKind: Self.moduleKind(name))
        let values = view.floats()
        releasePages(view.bytes.baseAddress!, count: view.bytes.count)
        return values
    }

    /// The kind a module is reported under ("q_proj", "embed_tokens", "norm", …).
    static func moduleKind(_ name: String) -> String {
        let parts = name.split(separator: ".")
        guard var last = parts.last else { return name }
        if last == "weight" || last == "bias", parts.count >= 2 { last = parts[parts.count - 2] }
        if last.hasSuffix("norm") { return "norm" }
        return String(last)
    }
}

extension WeightBuilder {
    /// Bytes each placeable module will hold once loaded, in definition order (what placement plans with).
    func footprints() throws -> [ModuleFootprint] {
        func bytes(_ prefix: String) -> Int {
            archive.tensorNames.filter { $0.hasPrefix(prefix + ".") && !dropsTensor($0) }.reduce(0) { total, name in
                guard let layout = archive.layout(of: name) else { return total }
                return total + estimatedBytes(name: name, shape: layout.shape, byteCount: layout.byteCount)
            }
        }
        var embeddingBytes = bytes(layout.embeddings)
        // A head tied to the embedding that the plan quantizes is a copy loaded beside the embedding.
        let embeddingWeight = layout.embeddings + ".weight"
        if !archive.contains(layout.lmHead + ".weight"), let embedding = archive.layout(of: embeddingWeight) {
            let head = estimatedBytes(name: layout.lmHead + ".weight", shape: embedding.shape, byteCount: 0)
            embeddingBytes += head
        }
        var modules = [ModuleFootprint(name: layout.embeddings, bytes: embeddingBytes)]
        for i in 0..<layerCount {
            modules.append(ModuleFootprint(name: layout.layer(i), bytes: bytes(layout.layer(i)), isLayer: true))
        }
        modules.append(ModuleFootprint(name: layout.finalNorm, bytes: bytes(layout.finalNorm)))
        if archive.contains(layout.lmHead + ".weight") {
            modules.append(ModuleFootprint(name: layout.lmHead, bytes: bytes(layout.lmHead)))
        }
        return modules
    }
}

extension WeightBuilder {
    /// Bytes a tensor will hold once loaded: its stored size, or its quantized size when the plan quantizes it.
    func estimatedBytes(name: String, shape: [Int], byteCount: Int) -> Int {
        guard let quantization, shape.count == 2, name.hasSuffix(".weight") else { return byteCount }
        let module = String(name.dropLast(".weight".count))
        guard module != layout.embeddings, quantization.shouldQuantize(moduleName: module) else { return byteCount }
        let out = shape[0], inputs = shape[1], n = out * inputs
        switch quantization.mode {
        case .none: return byteCount
        case .int8: return n + 4 * out
        case .fourBit(_, let doubleQuant, _):
            let blocks = (n + 63) / 64
            return (n + 1) / 2 + (doubleQuant ? blocks + 4 * ((blocks + 255) / 256) : 4 * blocks)
        }
    }
}
