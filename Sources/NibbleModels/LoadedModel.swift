import Foundation
import NibbleFormats
import NibbleTokenizer

/// A model ready to serve: weights, tokenizer, prompt adapter and the defaults that came with the checkpoint.
public struct LoadedModel: Sendable {
    /// Directory the weights were read from (the file itself for a single-file GGUF model).
    public let directory: URL
    public let model: any LanguageModel
    public let tokenizer: any Tokenizer
    public let adapter: any ModelAdapter
    public let config: ModelConfig
    /// Defaults from `generation_config.json` (empty when the file is absent).
    public let generationConfig: GenerationConfig
    /// Every id that ends generation: config.json, generation_config.json and the tokenizer's EOS, deduplicated.
    public let eosTokenIds: [Int]
    /// What the weights occupy, by tier, format and module kind.
    public let memory: WeightMemoryReport
    /// The tier each module was placed on.
    public let placement: PlacementPlan
    /// The checkpoint's chat template (or the operator's override); nil when it has none and the adapter's
    /// format applies (`chatFormat()`).
    public let chatTemplate: ModelChatTemplate?

    public init(directory: URL, model: any LanguageModel, tokenizer: any Tokenizer, adapter: any ModelAdapter,
                config: ModelConfig, generationConfig: GenerationConfig, eosTokenIds: [Int], memory: WeightMemoryReport,
                placement: PlacementPlan = PlacementPlan(assignments: []), chatTemplate: ModelChatTemplate? = nil) {
        self.placement = placement
        self.chatTemplate = chatTemplate
        self.directory = directory
        self.model = model
        self.tokenizer = tokenizer
        self.adapter = adapter
        self.config = config
        self.generationConfig = generationConfig
        self.eosTokenIds = eosTokenIds
        self.memory = memory
    }
}

extension LoadedModel {
    /// How chats are written for this model: its own template, else the adapter's format.
    public func chatFormat() throws -> ModelChatTemplate {
        try chatTemplate ?? ModelChatTemplate(adapter: adapter)
    }
}

/// Bytes of weights actually held, broken down the ways operators ask about.
public struct WeightMemoryReport: Sendable, Codable, Equatable {
    /// Number of parameters (unquantized element count).
    public var parameters: Int = 0
    /// Bytes by tier: "cpu" (resident) and "disk" (memory-mapped, paged in on use).
    public var bytesByTier: [String: Int] = [:]
    /// Bytes by storage format: "f32", "f16", "bf16", "int8", "nf4+dq", …
    public var bytesByFormat: [String: Int] = [:]
    /// Bytes by module kind: "embed_tokens", "q_proj", "mlp", "norm", "lm_head", …
    public var bytesByModuleKind: [String: Int] = [:]

    public init() {}

    /// Total weight bytes over all tiers.
    public var totalBytes: Int { bytesByTier.values.reduce(0, +) }

    /// Adds one tensor's storage.
    public mutating func add(bytes: Int, parameters count: Int, tier: String, format: String, moduleKind: String) {
        parameters += count
        bytesByTier[tier, default: 0] += bytes
        bytesByFormat[format, default: 0] += bytes
        bytesByModuleKind[moduleKind, default: 0] += bytes
    }
}
