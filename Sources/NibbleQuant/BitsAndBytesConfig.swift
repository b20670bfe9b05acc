import Foundation
import NibbleKernels

/// transformers' `BitsAndBytesConfig`, with the same snake_case JSON field names and defaults.
///
/// Decoding is lenient so a checkpoint's `quantization_config` (which carries private keys such as
/// `_load_in_4bit`) reads fine; `decodeStrict` rejects keys that are not fields, for configs users write.
public struct BitsAndBytesConfig: Codable, Sendable, Equatable {
    public var loadIn8bit: Bool = false
    public var loadIn4bit: Bool = false
    public var llmInt8Threshold: Double = 6.0
    public var llmInt8SkipModules: [String]? = nil
    public var llmInt8EnableFp32CpuOffload: Bool = false
    public var llmInt8HasFp16Weight: Bool = false
    public var bnb4bitQuantType: String = "fp4"
    public var bnb4bitUseDoubleQuant: Bool = false
    public var bnb4bitComputeDtype: String = "float32"
    public var bnb4bitQuantStorage: String = "uint8"
    public var quantMethod: String = "bitsandbytes"

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case loadIn8bit = "load_in_8bit"
        case loadIn4bit = "load_in_4bit"
        case llmInt8Threshold = "llm_int8_threshold"
        case llmInt8SkipModules = "llm_int8_skip_modules"
        case llmInt8EnableFp32CpuOffload = "llm_int8_enable_fp32_cpu_offload"
        case llmInt8HasFp16Weight = "llm_int8_has_fp16_weight"
        case bnb4bitQuantType = "bnb_4bit_quant_type"
        case bnb4bitUseDoubleQuant = "bnb_4bit_use_double_quant"
        case bnb4bitComputeDtype = "bnb_4bit_compute_dtype"
        case bnb4bitQuantStorage = "bnb_4bit_quant_storage"
        case quantMethod = "quant_method"
    }

    enum PrivateKeys: String, CodingKey {
        case loadIn8bit = "_load_in_8bit"
        case loadIn4bit = "_load_in_4bit"
    }

    /// Keys transformers itself writes into `quantization_config` besides the fields.
    static let transformersPrivateKeys: Set<String> = ["_load_in_4bit", "_load_in_8bit"]

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        // transformers keeps the flags in `_load_in_8bit`/`_load_in_4bit` and writes both spellings; either is read.
        let saved = try decoder.container(keyedBy: PrivateKeys.self)
        loadIn8bit = try c.decodeIfPresent(Bool.self, forKey: .loadIn8bit)
            ?? saved.decodeIfPresent(Bool.self, forKey: .loadIn8bit) ?? false
        loadIn4bit = try c.decodeIfPresent(Bool.self, forKey: .loadIn4bit)
            ?? saved.decodeIfPresent(Bool.self, forKey: .loadIn4bit) ?? false
        llmInt8Threshold = try c.decodeIfPresent(Double.self, forKey: .llmInt8Threshold) ?? 6.0
        llmInt8SkipModules = try c.decodeIfPresent([String].self, forKey: .llmInt8SkipModules)
        llmInt8EnableFp32CpuOffload = try c.decodeIfPresent(Bool.self, forKey: .llmInt8EnableFp32CpuOffload) ?? false
        llmInt8HasFp16Weight = try c.decodeIfPresent(Bool.self, forKey: .llmInt8HasFp16Weight) ?? false
        bnb4bitQuantType = try c.decodeIfPresent(String.self, forKey: .bnb4bitQuantType) ?? "fp4"
        bnb4bitUseDoubleQuant = try c.decodeIfPresent(Bool.self, forKey: .bnb4bitUseDoubleQuant) ?? false
        // null means the default: transformers maps None to float32.
        bnb4bitComputeDtype = try c.decodeIfPresent(String.self, forKey: .bnb4bitComputeDtype) ?? "float32"
        bnb4bitQuantStorage = try c.decodeIfPresent(String.self, forKey: .bnb4bitQuantStorage) ?? "uint8"
        quantMethod = try c.decodeIfPresent(String.self, forKey: .quantMethod) ?? "bitsandbytes"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(loadIn8bit, forKey: .loadIn8bit)
        try c.encode(loadIn4bit, forKey: .loadIn4bit)
        try c.encode(llmInt8Threshold, forKey: .llmInt8Threshold)
        if let llmInt8SkipModules { try c.encode(llmInt8SkipModules, forKey: .llmInt8SkipModules) }
        else { try c.encodeNil(forKey: .llmInt8SkipModules) }
        try c.encode(llmInt8EnableFp32CpuOffload, forKey: .llmInt8EnableFp32CpuOffload)
        try c.encode(llmInt8HasFp16Weight, forKey: .llmInt8HasFp16Weight)
        try c.encode(bnb4bitQuantType, forKey: .bnb4bitQuantType)
        try c.encode(bnb4bitUseDoubleQuant, forKey: .bnb4bitUseDoubleQuant)
        try c.encode(bnb4bitComputeDtype, forKey: .bnb4bitComputeDtype)
        try c.encode(bnb4bitQuantStorage, forKey: .bnb4bitQuantStorage)
        try c.encode(quantMethod, forKey: .quantMethod)
    }

    /// Decodes a user-written config, rejecting keys that are not fields (transformers' private keys pass).
    public static func decodeStrict(from data: Data) throws -> BitsAndBytesConfig {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw QuantizationError.invalidField(field: "(root)", message: "expected a JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue)).union(transformersPrivateKeys)
        let unknown = object.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty { throw QuantizationError.unknownKeys(unknown) }
        return try JSONDecoder().decode(BitsAndBytesConfig.self, from: data)
    }

    /// Parses a torch dtype name ("float16", "torch.bfloat16", "fp32", …).
    public static func computeDType(named name: String) -> ComputeDType? {
        let bare = name.hasPrefix("torch.") ? String(name.dropFirst(6)) : name
        switch bare {
        case "float32", "float", "fp32": return .float32
        case "float16", "half", "fp16": return .float16
        case "bfloat16", "bf16": return .bfloat16
        default: return nil
        }
    }

    /// Checks the settings and turns them into a plan the loader acts on.
    public func validated() throws -> QuantizationPlan {
        guard quantMethod == "bitsandbytes" else {
            throw QuantizationError.invalidField(field: "quant_method", message: "expected \"bitsandbytes\", got \"\(quantMethod)\"")
        }
        if loadIn8bit && loadIn4bit {
            throw QuantizationError.invalidField(field: "load_in_4bit", message: "load_in_4bit and load_in_8bit are both true; choose one")
        }
        guard let type = FourBitQuantType(rawValue: bnb4bitQuantType) else {
            throw QuantizationError.invalidField(field: "bnb_4bit_quant_type", message: "unknown quant type \"\(bnb4bitQuantType)\" (expected \"nf4\" or \"fp4\")")
        }
        guard let dtype = Self.computeDType(named: bnb4bitComputeDtype) else {
            throw QuantizationError.invalidField(field: "bnb_4bit_compute_dtype", message: "unknown dtype \"\(bnb4bitComputeDtype)\"")
        }
        guard bnb4bitQuantStorage == "uint8" else {
            throw QuantizationError.invalidField(field: "bnb_4bit_quant_storage", message: "only \"uint8\" is supported, got \"\(bnb4bitQuantStorage)\"")
        }
        guard llmInt8Threshold >= 0, llmInt8Threshold.isFinite else {
            throw QuantizationError.invalidField(field: "llm_int8_threshold", message: "must be a finite number ≥ 0")
        }
        let skip = llmInt8SkipModules ?? QuantizationPlan.defaultSkipModules
        if loadIn4bit {
            return QuantizationPlan(mode: .fourBit(type: type, doubleQuant: bnb4bitUseDoubleQuant, computeDType: dtype),
                                    skipModules: skip)
        }
        if loadIn8bit {
            return QuantizationPlan(mode: .int8(threshold: Float(llmInt8Threshold)), skipModules: skip)
        }
        return QuantizationPlan(mode: .none, skipModules: skip)
    }
}

/// A validated bitsandbytes setting.
public struct QuantizationPlan: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        case none
        case int8(threshold: Float)
        case fourBit(type: FourBitQuantType, doubleQuant: Bool, computeDType: ComputeDType)
    }

    /// transformers' default when `llm_int8_skip_modules` is None: the output head (weights tied to it are
    /// the embedding, which is never a Linear here).
    public static let defaultSkipModules = ["lm_head"]

    public var mode: Mode
    /// Module names (or name suffixes/prefixes) left unquantized.
    public var skipModules: [String]

    public init(mode: Mode, skipModules: [String] = defaultSkipModules) {
        self.mode = mode; self.skipModules = skipModules
    }

    /// Whether the linear module `moduleName` (e.g. "model.layers.0.mlp.down_proj") is quantized.
    ///
    /// A pattern excludes a module when it equals the name, is a dotted prefix of it, or is a run of whole
    /// name components inside or at the end of it (so "lm_head" also catches "model.lm_head").
    public func shouldQuantize(moduleName: String) -> Bool {
        if case .none = mode { return false }
        for key in skipModules {
            if moduleName == key || moduleName.hasPrefix(key + ".") || moduleName.hasSuffix("." + key)
                || moduleName.contains("." + key + ".") {
                return false
            }
        }
        return true
    }

    /// Quantizes a float weight `(out, in)` per the plan; nil when this module stays unquantized.
    /// `originalDType` is the checkpoint dtype name ("float16", "bfloat16", "float32"); values must already be at
    /// that precision (bnb quantizes the loaded tensor as is).
    public func quantize(weight: UnsafeBufferPointer<Float>, outFeatures: Int, inFeatures: Int,
                         moduleName: String, originalDType: String = "float32") -> (any LinearWeight)? {
        guard shouldQuantize(moduleName: moduleName) else { return nil }
        switch mode {
        case .none: return nil
        case let .int8(threshold):
            return Int8Weight(quantizing: weight, outFeatures: outFeatures, inFeatures: inFeatures, threshold: threshold)
        case let .fourBit(type, dq, dtype):
            return FourBitWeight(quantizing: weight, outFeatures: outFeatures, inFeatures: inFeatures, quantType: type,
                                 doubleQuant: dq, computeDType: dtype, originalDType: originalDType)
        }
    }
}
