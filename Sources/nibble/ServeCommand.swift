import ArgumentParser
import Foundation
import Logging
import NibbleEngine
import NibbleKernels
import NibbleServer

/// `nibble serve`: the HTTP server (OpenAI and llama.cpp APIs) over one or more models.
///
/// Settings come from `--config` (or `NIBBLE_CONFIG`), then `NIBBLE_*` variables, then these flags. With no
/// configuration at all, the embedded `models/kjv-llama-4m` is served as "kjv-llama-4m" on 127.0.0.1:8080.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models over HTTP: /v1/completions, /v1/chat/completions, /completion, /health, /metrics."
    )

    @Option(name: .long, help: "Configuration file (YAML or JSON), e.g. config/nibble.yaml. Default: $NIBBLE_CONFIG.")
    var config: String?

    @Option(name: .long, help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(name: .long, help: "Port to listen on (default 8080; 0 picks a free one).")
    var port: Int?

    @Option(name: .long, help: "Serve only this model directory (or ORG/NAME from the hub cache), replacing the configured models.")
    var model: String?

    @Option(name: .long, help: "Name clients use for --model (default: its directory name).")
    var modelName: String?

    @Option(name: .long, parsing: .singleValue, help: "Another name clients may use for the model (repeatable), as llama.cpp's --alias.")
    var alias: [String] = []

    @Option(name: .long, help: "Prompt/adapter format of the model: llama or guanaco.")
    var adapter: String?

    @Option(name: .long, help: "PEFT LoRA adapter directory merged at load.")
    var lora: String?

    @OptionGroup(title: "Quantization (transformers' BitsAndBytesConfig field names)")
    var quantization: QuantizationOptions

    @Option(name: .long, help: "device_map: auto, cpu or disk.")
    var deviceMap: String?

    @Option(name: .long, parsing: .singleValue, help: "Memory budget per tier, tier=size (repeatable), e.g. cpu=2GiB.")
    var maxMemory: [String] = []

    @Option(name: .long, help: "Directory for weights placed on disk that exist only after conversion (a GGUF file's).")
    var offloadFolder: String?

    @Option(name: .long, parsing: .singleValue, help: "Accepted API key (repeatable); clients send 'Authorization: Bearer KEY'.")
    var apiKey: [String] = []

    @Option(name: .customLong("parallel"), help: "Sequences running at once in shared batched steps (default 8).")
    var maxConcurrent: Int?

    @Option(name: .long, help: "KV cache pool per model: a size (2GiB), a share of free memory (40%) or auto (default).")
    var kvCacheMemory: String?

    @Option(name: .long, help: "KV cache element type: float32 (default), float16 or bfloat16.")
    var kvCacheDtype: String?

    @Option(name: .long, help: "Tokens one engine step may run: decoding tokens plus prompt chunks (default 512).")
    var maxBatchTokens: Int?

    @Option(name: .long, help: "Requests that may wait for a slot before 429 (default 16).")
    var maxQueue: Int?

    @Option(name: .long, help: "Largest request body in bytes (default 1 MiB).")
    var maxBodyBytes: Int?

    @Option(name: .long, help: "Seconds a connection may stay idle (or send its request head) before it is closed (default 60).")
    var idleTimeout: Double?

    @Option(name: .long, help: "Seconds a request body may take to arrive before 408 (default 30).")
    var requestTimeout: Double?

    @Option(name: .long, help: "Seconds running generations may go on after SIGTERM/SIGINT before they are ended (default 30).")
    var shutdownTimeout: Double?

    @Option(name: .long, help: "Most client connections open at once; at the limit the longest-idle one is closed for a new one (default 512, less if ulimit -n is low).")
    var maxConnections: Int?

    @Option(name: .long, parsing: .singleValue, help: "Host name clients may use in the Host header besides loopback names and IP addresses (repeatable; * allows any).")
    var allowedHost: [String] = []

    @Option(name: .long, parsing: .singleValue, help: "Origin whose web pages may call the API, e.g. https://app.example (repeatable; * allows any). Default: none.")
    var corsAllowedOrigin: [String] = []

    @Option(name: .long, help: "Kernel threads per matmul (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func run() async throws {
        var logger = Logger(label: "nibble")
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level \(logLevel)") }
        logger.logLevel = level

        // Connections need descriptors: use all the system grants before sizing the connection limit.
        FileDescriptorLimit.raiseToHardLimit()
        LargeAllocations.returnToSystemWhenFreed()
        let configuration = try resolvedConfiguration()
        if let threads = configuration.threads { Parallel.threadCount = threads }
        for model in configuration.models {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: model.path.path, isDirectory: &isDirectory)
            // A model is a checkpoint directory or a single GGUF file.
            guard exists, isDirectory.boolValue || model.path.pathExtension.lowercased() == "gguf" else {
                throw CLIError("model '\(model.name)': directory \(model.path.path) not found")
            }
            logger.info("serving model", metadata: ["model": "\(model.name)", "path": "\(model.path.path)",
                                                    "adapter": "\(model.adapter)"])
        }

        var registryLogger = logger
        registryLogger[metadataKey: "component"] = "models"
        let registry = ModelRegistry(specs: configuration.modelSpecs, logger: registryLogger)
        // Load in the background: the server answers /health with progress meanwhile.
        registry.startLoading()
        let scheduler = Scheduler(limits: configuration.limits)
        let app = buildApplication(configuration: configuration, models: registry, scheduler: scheduler, logger: logger)
        try await GracefulShutdown.run(
            app, scheduler: scheduler, timeout: .milliseconds(Int64(configuration.shutdownTimeoutSeconds * 1000)),
            logger: logger,
            watch: {
                // A server none of whose models loaded serves nothing: say why and exit non-zero.
                await registry.waitUntilSettled()
                let failures = registry.entries.compactMap { entry -> String? in
                    if case .failed(let reason) = entry.state { return "\(entry.spec.name): \(reason)" }
                    return nil
                }
                if failures.count == registry.entries.count {
                    throw CLIError("no model could be loaded (\(failures.joined(separator: "; ")))")
                }
            })
        logger.info("stopped")
    }

    /// File, then environment, then flags.
    func resolvedConfiguration() throws -> ServerConfiguration {
        let environment = ProcessInfo.processInfo.environment
        let file = (config ?? environment["NIBBLE_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }).map { URL(fileURLWithPath: $0) }
        var overrides = ConfigurationOverrides()
        overrides.host = host
        overrides.port = port
        overrides.apiKeys = apiKey.isEmpty ? nil : apiKey
        overrides.maxConcurrent = maxConcurrent
        overrides.maxQueue = maxQueue
        overrides.kvCacheMemory = kvCacheMemory
        overrides.kvCacheDType = kvCacheDtype
        overrides.maxBatchTokens = maxBatchTokens
        overrides.maxBodyBytes = maxBodyBytes
        overrides.idleTimeoutSeconds = idleTimeout
        overrides.requestTimeoutSeconds = requestTimeout
        overrides.threads = threads
        overrides.shutdownTimeoutSeconds = shutdownTimeout
        overrides.maxConnections = maxConnections
        overrides.allowedHosts = allowedHost.isEmpty ? nil : allowedHost
        overrides.corsAllowedOrigins = corsAllowedOrigin.isEmpty ? nil : corsAllowedOrigin
        overrides.modelPath = model
        overrides.modelName = modelName
        overrides.aliases = alias.isEmpty ? nil : alias
        overrides.adapter = adapter
        overrides.lora = lora
        overrides.deviceMap = deviceMap
        overrides.maxMemory = maxMemory.isEmpty ? nil : maxMemory
        overrides.offloadFolder = offloadFolder
        overrides.quantization = try quantization.fields()
        do {
            return try ConfigurationLoader.load(file: file, environment: environment, overrides: overrides)
        } catch let error as ConfigurationError {
            throw CLIError("\(error)")
        }
    }
}
