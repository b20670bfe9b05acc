import Foundation

/// The parts of a Hugging Face `config.json` a LLaMA-family model needs.
///
/// Accepts both the older style (`rope_theta`, `torch_dtype`) and the newer one (`rope_parameters`, `dtype`).
public struct ModelConfig: Sendable, Equatable {
    public var architectures: [String]
    public var modelType: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    /// `rope_scaling` / `rope_parameters.rope_type`; only "default" (no scaling) and "linear" and "llama3" are applied.
    public var ropeType: String
    public var ropeScalingFactor: Float
    /// llama3-style scaling parameters (used when `ropeType == "llama3"`).
    public var ropeLowFreqFactor: Float
    public var ropeHighFreqFactor: Float
    public var ropeOriginalMaxPositions: Int
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var hiddenAct: String
    /// Weight dtype the checkpoint was saved in ("float16", "bfloat16", "float32").
    public var torchDtype: String?
    public var bosTokenId: Int?
    /// EOS ids (config.json allows a single id or a list).
    public var eosTokenIds: [Int]
    /// The raw `quantization_config` object of a pre-quantized checkpoint, as JSON bytes.
    public var quantizationConfigJSON: Data?

    /// Parses `config.json` bytes; `path` only labels errors.
    public init(json data: Data, path: String = "config.json") throws {
        guard let object = try? JSONSerialization.jsonObject(with: data), let root = object as? [String: Any] else {
            throw FormatError.invalidConfig(path: path, reason: "not a JSON object")
        }
        let reader = JSONFieldReader(root: root, path: path)
        architectures = (root["architectures"] as? [String]) ?? []
        modelType = (root["model_type"] as? String) ?? "llama"
        hiddenSize = try reader.int("hidden_size")
        intermediateSize = try reader.int("intermediate_size")
        numHiddenLayers = try reader.int("num_hidden_layers")
        numAttentionHeads = try reader.int("num_attention_heads")
        numKeyValueHeads = try reader.optionalInt("num_key_value_heads") ?? numAttentionHeads
        let explicitHeadDim = try reader.optionalInt("head_dim")
        headDim = explicitHeadDim ?? (hiddenSize / max(numAttentionHeads, 1))
        vocabSize = try reader.int("vocab_size")
        maxPositionEmbeddings = try reader.optionalInt("max_position_embeddings") ?? 2048
        rmsNormEps = Float(try reader.optionalDouble("rms_norm_eps") ?? 1e-6)
        tieWordEmbeddings = (root["tie_word_embeddings"] as? Bool) ?? false
        attentionBias = (root["attention_bias"] as? Bool) ?? false
        mlpBias = (root["mlp_bias"] as? Bool) ?? false
        hiddenAct = (root["hidden_act"] as? String) ?? "silu"
        torchDtype = (root["dtype"] as? String) ?? (root["torch_dtype"] as? String)
        bosTokenId = try reader.optionalInt("bos_token_id")
        eosTokenIds = try TokenIdCheck.ids(root, "eos_token_id", reader: reader)

        // Newer transformers nest RoPE settings in `rope_parameters`; older ones use `rope_theta` + `rope_scaling`.
        let ropeObject = (root["rope_parameters"] as? [String: Any]) ?? (root["rope_scaling"] as? [String: Any]) ?? [:]
        let ropeReader = JSONFieldReader(root: ropeObject, path: path + " rope_parameters")
        ropeTheta = Float(try ropeReader.optionalDouble("rope_theta") ?? reader.optionalDouble("rope_theta") ?? 10000)
        ropeType = (ropeObject["rope_type"] as? String) ?? (ropeObject["type"] as? String) ?? "default"
        ropeScalingFactor = Float(try ropeReader.optionalDouble("factor") ?? 1)
        ropeLowFreqFactor = Float(try ropeReader.optionalDouble("low_freq_factor") ?? 1)
        ropeHighFreqFactor = Float(try ropeReader.optionalDouble("high_freq_factor") ?? 4)
        ropeOriginalMaxPositions = try ropeReader.optionalInt("original_max_position_embeddings") ?? 8192
        if let quant = root["quantization_config"], !(quant is NSNull) {
            quantizationConfigJSON = try JSONSerialization.data(withJSONObject: quant, options: [.sortedKeys])
        } else {
            quantizationConfigJSON = nil
        }
        try validate(path: path, headDimGiven: explicitHeadDim != nil)
    }

    /// Reads `config.json` from a model directory.
    public init(directory: URL) throws {
        let url = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw FormatError.fileNotFound(path: url.path) }
        try self.init(json: try Data(contentsOf: url), path: url.path)
    }
}

/// Typed access to JSON fields with errors that name the field.
struct JSONFieldReader {
    let root: [String: Any]
    let path: String

    func int(_ key: String) throws -> Int {
        guard let value = try optionalInt(key) else { throw FormatError.invalidConfig(path: path, reason: "missing field '\(key)'") }
        return value
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let raw = root[key], !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, !isJSONBool(raw), Double(number.intValue) == number.doubleValue else {
            throw FormatError.invalidConfig(path: path, reason: "field '\(key)' must be an integer")
        }
        return number.intValue
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let raw = root[key], !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, !isJSONBool(raw) else {
            throw FormatError.invalidConfig(path: path, reason: "field '\(key)' must be a number")
        }
        return number.doubleValue
    }
}

/// Whether a JSONSerialization value is a JSON boolean. `is Bool` cannot tell: NSNumber(1) bridges to Bool.
func isJSONBool(_ value: Any) -> Bool {
    guard let number = value as? NSNumber else { return value is Bool }
    return String(cString: number.objCType) == "c"
}
