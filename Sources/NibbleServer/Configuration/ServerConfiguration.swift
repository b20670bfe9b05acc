import Foundation
import NibbleEngine
import NibbleGeneration
import NibbleModels

/// Everything `nibble serve` needs: where to listen, limits, credentials and the models to serve.
///
/// Read from `config/nibble.yaml` (or JSON), then `NIBBLE_*` environment variables, then command-line flags,
/// each overriding the previous (`ConfigurationLoader`).
public struct ServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port: Int = 8080
    /// When non-empty, every route but `/health` needs `Authorization: Bearer <key>`.
    public var apiKeys: [String] = []
    /// Largest request body accepted (413 above).
    public var maxBodyBytes: Int = 1 << 20
    /// A connection that sends nothing for this long between requests (or while its request head is still
    /// arriving) is closed, so idle keep-alive sockets and slow-header clients do not hold resources.
    public var idleTimeoutSeconds: Double = 60
    /// A request body must arrive in full within this time (408 after), so a client trickling bytes cannot
    /// hold a handler forever.
    public var requestTimeoutSeconds: Double = 30
    /// After SIGTERM/SIGINT, how long running generations may go on before they are ended (0: end them at once).
    public var shutdownTimeoutSeconds: Double = 30
    /// Most connections open at once; at the limit the connection idle the longest is closed to admit a new one,
    /// and when none is idle the new one is closed at once. The default leaves file descriptors for models.
    public var maxConnections: Int = FileDescriptorLimit.defaultMaxConnections
    /// Host names (besides loopback names and IP addresses) the `Host` header may carry; `*` allows any.
    public var allowedHosts: [String] = []
    /// Origins (`https://app.example`) whose pages may call the API from a browser; `*` allows any. Empty: none.
    public var corsAllowedOrigins: [String] = []
    /// Whether `/metrics` needs a key when keys are configured.
    public var metricsRequireKey: Bool = true
    /// Generation slots and wait queue.
    public var limits = SchedulerLimits()
    /// Kernel threads per matmul (nil: all cores).
    public var threads: Int?
    /// Served models; the first is the default when a request names none.
    public var models: [ModelConfiguration] = []

    public init() {}

    /// The engine's view of the models.
    public var modelSpecs: [ModelSpec] { models.map(\.spec) }
}

/// One served model as configured.
public struct ModelConfiguration: Sendable {
    /// Name clients use (`"model": "…"`).
    public var name: String
    /// Checkpoint directory.
    public var path: URL
    /// Adapter registry name (`llama`, `guanaco`).
    public var adapter: String = "llama"
    /// PEFT LoRA directory merged at load.
    public var lora: URL?
    /// bitsandbytes `quantization_config` exactly as transformers spells it, as JSON.
    public var quantizationJSON: Data?
    /// `device_map`.
    public var deviceMap: DeviceMap?
    /// `max_memory` budgets in bytes.
    public var maxMemory: [Tier: Int] = [:]
    /// `offload_folder`: where weights placed on disk that exist only after conversion are written.
    public var offloadFolder: URL?
    /// Defaults applied over the checkpoint's `generation_config.json` and under each request's settings.
    public var defaults = GenerationDefaults()
    /// A chat template replacing the checkpoint's own (`chat_template`: inline text or a file).
    public var chatTemplate: ChatTemplateTexts?
    /// Other names requests may use for this model (`aliases`).
    public var aliases: [String] = []

    public init(name: String, path: URL) {
        self.name = name
        self.path = path
    }

    /// Load options for the engine.
    public var spec: ModelSpec {
        var options = LoadOptions(adapterName: adapter, loraDirectory: lora)
        options.deviceMap = deviceMap
        options.maxMemory = maxMemory
        options.offloadFolder = offloadFolder
        options.chatTemplate = chatTemplate
        applyQuantization(quantizationJSON, to: &options)
        return ModelSpec(name: name, directory: path, options: options, aliases: aliases)
    }
}

/// Per-model default sampling settings from the configuration file (unset fields keep the checkpoint's).
public struct GenerationDefaults: Sendable, Equatable {
    public var maxTokens: Int?
    public var doSample: Bool?
    public var temperature: Float?
    public var topK: Int?
    public var topP: Float?
    public var minP: Float?
    public var repetitionPenalty: Float?
    public var stop: [String]?

    public init() {}

    /// Applies the configured fields over `parameters`.
    public func apply(to parameters: inout GenerationParameters) {
        if let maxTokens { parameters.maxNewTokens = maxTokens }
        if let doSample { parameters.doSample = doSample }
        if let temperature { parameters.temperature = temperature }
        if let topK { parameters.topK = topK }
        if let topP { parameters.topP = topP }
        if let minP { parameters.minP = minP }
        if let repetitionPenalty { parameters.repetitionPenalty = repetitionPenalty }
        if let stop { parameters.stopStrings = stop }
    }
}
