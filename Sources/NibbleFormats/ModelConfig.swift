import Foundation

/// The fields of a Hugging Face `config.json` that every decoder-only checkpoint states, whatever its family.
///
/// What a family adds (rotary settings, biases, sliding windows, head width, …) is decoded by that family from
/// `fields()`. Accepts both the older style (`torch_dtype`) and the newer one (`dtype`).
public struct ModelConfig: Sendable, Equatable {
    /// `architectures`, e.g. `["MistralForCausalLM"]` (may be empty).
    public var architectures: [String]
    /// `model_type`, e.g. "qwen2" (nil when the file has none).
    public var modelType: String?
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Float
    public var tieWordEmbeddings: Bool
    /// Weight dtype the checkpoint was saved in ("float16", "bfloat16", "float32").
    public var torchDtype: String?
    public var bosTokenId: Int?
    /// EOS ids (config.json allows a single id or a list).
    public var eosTokenIds: [Int]
    /// The raw `quantization_config` object of a pre-quantized checkpoint, as JSON bytes.
    public var quantizationConfigJSON: Data?
    /// The whole file, so a model family can decode the fields only it has.
    public var json: Data
    /// Where the file was read from (labels errors).
    public var path: String

    /// Parses `config.json` bytes; `path` only labels errors.
    public init(json data: Data, path: String = "config.json") throws {
        let reader = try JSONFieldReader(json: data, path: path)
        let root = reader.root
        json = data
        self.path = path
        architectures = try reader.optionalStrings("architectures") ?? []
        modelType = try reader.optionalString("model_type")
        hiddenSize = try reader.int("hidden_size")
        intermediateSize = try reader.int("intermediate_size")
        numHiddenLayers = try reader.int("num_hidden_layers")
        numAttentionHeads = try reader.int("num_attention_heads")
        numKeyValueHeads = try reader.optionalInt("num_key_value_heads") ?? numAttentionHeads
        vocabSize = try reader.int("vocab_size")
        maxPositionEmbeddings = try reader.optionalInt("max_position_embeddings") ?? 2048
        rmsNormEps = Float(try reader.optionalDouble("rms_norm_eps") ?? 1e-6)
        tieWordEmbeddings = try reader.optionalBool("tie_word_embeddings") ?? false
        torchDtype = (root["dtype"] as? String) ?? (root["torch_dtype"] as? String)
        bosTokenId = try reader.optionalInt("bos_token_id")
        eosTokenIds = try TokenIdCheck.ids(root, "eos_token_id", reader: reader)
        if let quant = root["quantization_config"], !(quant is NSNull) {
            quantizationConfigJSON = try JSONSerialization.data(withJSONObject: quant, options: [.sortedKeys])
        } else {
            quantizationConfigJSON = nil
        }
        try validate(path: path)
    }

    /// Reads `config.json` from a model directory.
    public init(directory: URL) throws {
        let url = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw FormatError.fileNotFound(path: url.path) }
        try self.init(json: try Data(contentsOf: url), path: url.path)
    }

    /// Typed access to every field of the file, for the parts a model family decodes itself.
    public func fields() throws -> JSONFieldReader { try JSONFieldReader(json: json, path: path) }
}

/// Typed access to the fields of one JSON object, with errors that name the file and the field.
public struct JSONFieldReader {
    /// The object's members as `JSONSerialization` returns them.
    public let root: [String: Any]
    /// Labels errors: the file, and the object within it.
    public let path: String

    public init(root: [String: Any], path: String) {
        self.root = root
        self.path = path
    }

    /// Parses `data`, which must hold a JSON object.
    public init(json data: Data, path: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data), let root = object as? [String: Any] else {
            throw FormatError.invalidConfig(path: path, reason: "not a JSON object")
        }
        self.init(root: root, path: path)
    }

    /// Whether `key` is present and not null.
    public func has(_ key: String) -> Bool {
        guard let raw = root[key] else { return false }
        return !(raw is NSNull)
    }

    public func int(_ key: String) throws -> Int {
        guard let value = try optionalInt(key) else { throw FormatError.invalidConfig(path: path, reason: "missing field '\(key)'") }
        return value
    }

    public func optionalInt(_ key: String) throws -> Int? {
        guard let raw = root[key], !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, !isJSONBool(raw), Double(number.intValue) == number.doubleValue else {
            throw FormatError.invalidConfig(path: path, reason: "field '\(key)' must be an integer")
        }
        return number.intValue
    }

    public func optionalDouble(_ key: String) throws -> Double? {
        guard let raw = root[key], !(raw is NSNull) else { return nil }
        guard let number = raw as? NSNumber, !isJSONBool(raw) else {
            throw FormatError.invalidConfig(path: path, reason: "field '\(key)' must be a number")
        }
        return number.doubleValue
    }

    public func optionalBool(_ key: String) throws -> Bool? {
        guard let raw = root[key], !(raw is NSNull) else { return nil }
        guard isJSONBool(raw), let value = raw as? Bool else {
            throw FormatError.invalidConfig(path: path, reason: "field '\(key)' must be true or false")
        }
        return value
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let raw = root[key], !(raw is NSNull) else { return nil }
        guard let value = raw as? String else {
            throw FormatError.invalidConfig(path: path, reason: "field '\(key)' must be a string")
        }
        return value
    }

    public func optionalStrings(_ key: String) throws -> [String]? {
        guard let raw = root[key], !(raw is NSNull) else { return nil }
        guard let value = raw as? [String] else {
            throw FormatError.invalidConfig(path: path, reason: "field '\(key)' must be a list of strings")
        }
        return value
    }

    /// The nested object `key`, read with the same error labels.
    public func optionalObject(_ key: String) throws -> JSONFieldReader? {
        guard let raw = root[key], !(raw is NSNull) else { return nil }
        guard let object = raw as? [String: Any] else {
            throw FormatError.invalidConfig(path: path, reason: "field '\(key)' must be an object")
        }
        return JSONFieldReader(root: object, path: path + " " + key)
    }
}

/// Whether a JSONSerialization value is a JSON boolean. `is Bool` cannot tell: NSNumber(1) bridges to Bool.
func isJSONBool(_ value: Any) -> Bool {
    guard let number = value as? NSNumber else { return value is Bool }
    return String(cString: number.objCType) == "c"
}
