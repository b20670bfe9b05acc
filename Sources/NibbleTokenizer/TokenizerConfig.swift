import Foundation

/// The parts of `tokenizer_config.json` (and `special_tokens_map.json`) that change how text is encoded.
///
/// Every field is optional: absent means "use what the tokenizer file itself says".
public struct TokenizerConfig: Sendable, Equatable {
    /// Whether `encode(_:addSpecialTokens: true)` prepends BOS.
    public var addBosToken: Bool?
    /// Whether `encode(_:addSpecialTokens: true)` appends EOS.
    public var addEosToken: Bool?
    /// BOS token string (`"<s>"`).
    public var bosToken: String?
    /// EOS token string (`"</s>"`).
    public var eosToken: String?
    /// Unknown token string (`"<unk>"`).
    public var unkToken: String?
    /// Padding token string, if any.
    public var padToken: String?

    /// A config with nothing set.
    public init(addBosToken: Bool? = nil, addEosToken: Bool? = nil, bosToken: String? = nil,
                eosToken: String? = nil, unkToken: String? = nil, padToken: String? = nil) {
        self.addBosToken = addBosToken
        self.addEosToken = addEosToken
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.unkToken = unkToken
        self.padToken = padToken
    }

    /// Reads `tokenizer_config.json` and `special_tokens_map.json` from a model directory; both are optional.
    /// `tokenizer_config.json` wins where both name a token.
    public static func load(directory: URL) throws -> TokenizerConfig {
        var config = TokenizerConfig()
        let mapURL = directory.appendingPathComponent("special_tokens_map.json")
        if FileManager.default.fileExists(atPath: mapURL.path) {
            config.merge(try parse(readFile(mapURL), file: mapURL.path))
        }
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if FileManager.default.fileExists(atPath: configURL.path) {
            config.merge(try parse(readFile(configURL), file: configURL.path))
        }
        return config
    }

    /// Parses either file's JSON.
    static func parse(_ data: Data, file: String) throws -> TokenizerConfig {
        let json = try decodeJSONFile(JSONValue.self, from: data, file: file)
        guard case .object = json else {
            throw TokenizerError.invalidJSON(file, reason: "top level is not an object")
        }
        return TokenizerConfig(
            addBosToken: json["add_bos_token"]?.bool,
            addEosToken: json["add_eos_token"]?.bool,
            bosToken: json["bos_token"]?.tokenContent,
            eosToken: json["eos_token"]?.tokenContent,
            unkToken: json["unk_token"]?.tokenContent,
            padToken: json["pad_token"]?.tokenContent)
    }

    /// Overwrites fields that `other` sets.
    mutating func merge(_ other: TokenizerConfig) {
        addBosToken = other.addBosToken ?? addBosToken
        addEosToken = other.addEosToken ?? addEosToken
        bosToken = other.bosToken ?? bosToken
        eosToken = other.eosToken ?? eosToken
        unkToken = other.unkToken ?? unkToken
        padToken = other.padToken ?? padToken
    }
}
