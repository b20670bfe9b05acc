import Foundation

/// A model's `generation_config.json`: its default sampling settings and EOS ids.
public struct GenerationConfig: Sendable, Equatable {
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?
    public var doSample: Bool?
    public var temperature: Float?
    public var topK: Int?
    public var topP: Float?
    public var minP: Float?
    public var repetitionPenalty: Float?
    public var maxNewTokens: Int?

    /// An empty config (no defaults).
    public init() { eosTokenIds = [] }

    /// Parses `generation_config.json` bytes.
    public init(json data: Data, path: String = "generation_config.json") throws {
        guard let object = try? JSONSerialization.jsonObject(with: data), let root = object as? [String: Any] else {
            throw FormatError.invalidConfig(path: path, reason: "not a JSON object")
        }
        let reader = JSONFieldReader(root: root, path: path)
        bosTokenId = try reader.optionalInt("bos_token_id")
        eosTokenIds = try TokenIdCheck.ids(root, "eos_token_id", reader: reader)
        padTokenId = try reader.optionalInt("pad_token_id")
        doSample = root["do_sample"] as? Bool
        temperature = (try reader.optionalDouble("temperature")).map(Float.init)
        topK = try reader.optionalInt("top_k")
        topP = (try reader.optionalDouble("top_p")).map(Float.init)
        minP = (try reader.optionalDouble("min_p")).map(Float.init)
        repetitionPenalty = (try reader.optionalDouble("repetition_penalty")).map(Float.init)
        maxNewTokens = try reader.optionalInt("max_new_tokens")
        try validate(path: path)
    }

    /// Reads `generation_config.json` from a model directory; a missing file gives an empty config.
    public init(directory: URL) throws {
        let url = directory.appendingPathComponent("generation_config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { self.init(); return }
        try self.init(json: try Data(contentsOf: url), path: url.path)
    }
}
