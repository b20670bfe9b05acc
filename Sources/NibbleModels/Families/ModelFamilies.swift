import NibbleFormats

/// The model families Nibble loads. Adding one is a folder under `Families/` and one line in `registered`.
public enum ModelFamilies {
    /// Every known family.
    public static let registered: [RegisteredFamily] = [
        RegisteredFamily(LlamaFamily.self),
        RegisteredFamily(MistralFamily.self),
        RegisteredFamily(Qwen2Family.self),
        RegisteredFamily(Qwen3Family.self),
    ]

    /// The family of a checkpoint, chosen by `model_type` (by `architectures` when it has none), and set up
    /// from its config. An unknown family is an error listing the known ones.
    public static func resolve(_ config: ModelConfig) throws -> ResolvedFamily {
        let family: RegisteredFamily?
        if let type = config.modelType {
            family = registered.first { $0.modelTypes.contains(type) }
        } else {
            family = registered.first { entry in config.architectures.contains { entry.architectures.contains($0) } }
        }
        guard let family else {
            throw ModelError.unsupportedArchitecture(config.modelType ?? config.architectures.first ?? "(no model_type)")
        }
        // A head other than the causal LM one (e.g. …ForSequenceClassification) has other weights and outputs.
        if !config.architectures.isEmpty, !config.architectures.contains(where: { family.architectures.contains($0) }) {
            throw ModelError.unsupportedArchitecture(config.architectures.joined(separator: ", "))
        }
        return try family.resolve(config)
    }

    /// The family of a GGUF file's `general.architecture`, or nil.
    public static func family(ggufArchitecture name: String) -> RegisteredFamily? {
        registered.first { $0.ggufArchitectures.contains(name) }
    }

    /// "llama (LlamaForCausalLM), mistral (MistralForCausalLM), …", for error messages.
    static var knownDescription: String {
        registered.map { "\($0.name) (\($0.architectures.joined(separator: ", ")))" }.joined(separator: ", ")
    }
}

/// One registry entry: a family's identifiers and how it reads a config.
public struct RegisteredFamily: Sendable {
    public let name: String
    public let modelTypes: [String]
    public let architectures: [String]
    public let ggufArchitectures: [String]
    private let make: @Sendable (ModelConfig) throws -> ResolvedFamily

    public init<Family: ModelFamily>(_ family: Family.Type) {
        name = Family.name
        modelTypes = Family.modelTypes
        architectures = Family.architectures
        ggufArchitectures = Family.ggufArchitectures
        make = { config in
            let configuration = try Family.Configuration(config: config, fields: try config.fields())
            return ResolvedFamily(name: Family.name, layout: Family.layout(configuration),
                                  architecture: try Family.architecture(configuration),
                                  dropsTensor: { Family.dropsTensor($0) })
        }
    }

    /// Decodes `config` as this family's and sets the model up.
    public func resolve(_ config: ModelConfig) throws -> ResolvedFamily { try make(config) }
}

/// A family set up from one checkpoint's config: the names to load and the decoder to build.
public struct ResolvedFamily: Sendable {
    /// Registry name of the family.
    public let name: String
    public let layout: DecoderLayout
    public let architecture: DecoderArchitecture
    /// The family's sanitizing hook: stored tensors that are not model weights.
    public let dropsTensor: @Sendable (String) -> Bool
}
