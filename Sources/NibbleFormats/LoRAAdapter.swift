import Foundation

/// A PEFT LoRA adapter directory: `adapter_config.json` + `adapter_model.safetensors`.
///
/// Saved keys drop the adapter name: `base_model.model.<module>.lora_A.weight` `(r, in)` and
/// `…lora_B.weight` `(out, r)`; the update to `<module>.weight` is `scaling · B·A` with
/// scaling = `lora_alpha / r` (or `lora_alpha / √r` with `use_rslora`).
public struct LoRAAdapter: Sendable {
    /// One adapted module's factors.
    public struct Factors: Sendable {
        /// `lora_A.weight` `(r, in)`.
        public let a: TensorView
        /// `lora_B.weight` `(out, r)`.
        public let b: TensorView
        /// Multiplier of B·A for this module.
        public let scaling: Float
    }

    public let directory: URL
    public let rank: Int
    public let alpha: Double
    public let useRSLoRA: Bool
    /// Whether the base weights are stored transposed (Conv1D-style); LLaMA checkpoints use false.
    public let fanInFanOut: Bool
    public let targetModules: [String]
    public let baseModelNameOrPath: String?
    /// Factors by base module name (`model.layers.0.self_attn.q_proj`).
    public let modules: [String: Factors]
    private let weights: SafetensorsFile

    /// Reads and validates an adapter directory.
    public init(directory: URL) throws {
        self.directory = directory
        let configURL = directory.appendingPathComponent("adapter_config.json")
        let path = configURL.path
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError.fileNotFound(path: path) }
        guard let root = (try? JSONSerialization.jsonObject(with: Data(contentsOf: configURL))) as? [String: Any] else {
            throw FormatError.invalidConfig(path: path, reason: "not a JSON object")
        }
        func fail(_ reason: String) -> FormatError { .invalidConfig(path: path, reason: reason) }
        let peftType = (root["peft_type"] as? String) ?? "LORA"
        guard peftType == "LORA" else { throw fail("peft_type '\(peftType)' is not supported (LORA only)") }
        if root["use_dora"] as? Bool == true { throw fail("use_dora is not supported") }
        if let saved = root["modules_to_save"] as? [Any], !saved.isEmpty {
            throw fail("modules_to_save is not supported (the adapter replaces whole modules)")
        }
        let reader = JSONFieldReader(root: root, path: path)
        rank = try reader.optionalInt("r") ?? 8
        alpha = try reader.optionalDouble("lora_alpha") ?? 8
        guard rank > 0 else { throw fail("r must be positive") }
        useRSLoRA = (root["use_rslora"] as? Bool) ?? false
        fanInFanOut = (root["fan_in_fan_out"] as? Bool) ?? false
        baseModelNameOrPath = root["base_model_name_or_path"] as? String
        if let list = root["target_modules"] as? [String] {
            targetModules = list
        } else if let single = root["target_modules"] as? String {
            targetModules = [single]
        } else {
            targetModules = []
        }
        let rankPattern = (root["rank_pattern"] as? [String: Any]) ?? [:]
        let alphaPattern = (root["alpha_pattern"] as? [String: Any]) ?? [:]

        let weightsPath = directory.appendingPathComponent("adapter_model.safetensors").path
        weights = try SafetensorsFile(path: weightsPath)
        var modules: [String: Factors] = [:]
        for name in weights.tensors.keys where name.hasSuffix(".lora_A.weight") {
            var module = String(name.dropLast(".lora_A.weight".count))
            let bName = module + ".lora_B.weight"
            guard let b = weights.tensors[bName] else {
                throw FormatError.missingTensor(name: bName, searched: weightsPath)
            }
            let a = weights.tensors[name]!
            if module.hasPrefix("base_model.model.") { module.removeFirst("base_model.model.".count) }
            // Per-module overrides match on the module's name suffix, as PEFT does.
            let moduleRank = (rankPattern.first { module.hasSuffix($0.key) }?.value as? NSNumber)?.intValue ?? rank
            let moduleAlpha = (alphaPattern.first { module.hasSuffix($0.key) }?.value as? NSNumber)?.doubleValue ?? alpha
            guard a.shape.count == 2, b.shape.count == 2, a.shape[0] == moduleRank, b.shape[1] == moduleRank else {
                throw FormatError.invalidTensor(path: weightsPath, tensor: name,
                                                reason: "lora_A \(a.shape) / lora_B \(b.shape) do not have rank \(moduleRank)")
            }
            guard a.dtype.isFloatingPoint, b.dtype.isFloatingPoint else {
                throw FormatError.invalidTensor(path: weightsPath, tensor: name, reason: "LoRA factors must be float tensors")
            }
            let scaling = useRSLoRA ? moduleAlpha / Double(moduleRank).squareRoot() : moduleAlpha / Double(moduleRank)
            modules[module] = Factors(a: a, b: b, scaling: Float(scaling))
        }
        guard !modules.isEmpty else {
            throw FormatError.invalidConfig(path: weightsPath, reason: "no lora_A/lora_B tensors found")
        }
        self.modules = modules
    }

    /// `scaling · B·A` for `module`, shaped like its weight `(out, in)`, or nil if the module is not adapted.
    public func delta(for module: String) -> [Float]? {
        guard let factors = modules[module] else { return nil }
        let a = factors.a.floats(), b = factors.b.floats()  // (r, in), (out, r)
        let r = factors.a.shape[0], inputs = factors.a.shape[1], outputs = factors.b.shape[0]
        var delta = [Float](repeating: 0, count: outputs * inputs)  // (out, in)
        // (B·A) first, then the scaling, in the order PEFT's merge computes it.
        for o in 0..<outputs {
            for k in 0..<r {
                let coefficient = b[o * r + k]
                if coefficient == 0 { continue }
                for i in 0..<inputs { delta[o * inputs + i] += coefficient * a[k * inputs + i] }
            }
        }
        for i in delta.indices { delta[i] *= factors.scaling }
        if fanInFanOut {
            // The base weight is stored (in, out): transpose the update to match it.
            var transposed = [Float](repeating: 0, count: delta.count)
            for o in 0..<outputs { for i in 0..<inputs { transposed[i * outputs + o] = delta[o * inputs + i] } }
            return transposed
        }
        return delta
    }
}
