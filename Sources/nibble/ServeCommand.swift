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

    @Option(name: .long, help: "Prompt/adapter format of the model: llama or guanaco.")
    var adapter: String?

    @Option(name: .long, help: "PEFT LoRA adapter directory merged at load.")
    var lora: String?

    @Flag(name: .customLong("load-in-8bit"), help: "Quantize linear layers to int8 at load (LLM.int8()).")
    var loadIn8bit = false

    @Flag(name: .customLong("load-in-4bit"), help: "Quantize linear layers to 4 bits at load.")
    var loadIn4bit = false

    @Option(name: .customLong("bnb-4bit-quant-type"), help: "4-bit data type: nf4 or fp4 (transformers' default fp4).")
    var bnb4bitQuantType: String?

    @Flag(name: .customLong("bnb-4bit-use-double-quant"), help: "Quantize the 4-bit absmax constants again.")
    var bnb4bitUseDoubleQuant = false

    @Option(name: .customLong("bnb-4bit-compute-dtype"), help: "Compute dtype for 4-bit layers (float32, bfloat16, float16).")
    var bnb4bitComputeDtype: String?

    @Option(name: .customLong("llm-int8-threshold"), help: "Outlier threshold for int8 (default 6.0).")
    var llmInt8Threshold: Double?

    @Option(name: .long, help: "device_map: auto, cpu or disk.")
    var deviceMap: String?

    @Option(name: .long, parsing: .singleValue, help: "Memory budget per tier, tier=size (repeatable), e.g. cpu=2GiB.")
    var maxMemory: [String] = []

    @Option(name: .long, parsing: .singleValue, help: "Accepted API key (repeatable); clients send 'Authorization: Bearer KEY'.")
    var apiKey: [String] = []

    @Option(name: .customLong("parallel"), help: "Generations running at once, each on its own thread (default 1).")
    var maxConcurrent: Int?

    @Option(name: .long, help: "Requests that may wait for a slot before 429 (default 16).")
    var maxQueue: Int?

    @Option(name: .long, help: "Largest request body in bytes (default 1 MiB).")
    var maxBodyBytes: Int?

    @Option(name: .long, help: "Seconds a connection may stay idle (or send its request head) before it is closed (default 60).")
    var idleTimeout: Double?

    @Option(name: .long, help: "Seconds a request body may take to arrive before 408 (default 30).")
    var requestTimeout: Double?

    @Option(name: .long, help: "Kernel threads per matmul (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func run() async throws {
        var logger = Logger(label: "nibble")
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level \(logLevel)") }
        logger.logLevel = level

        let configuration = try resolvedConfiguration()
        if let threads = configuration.threads { Parallel.threadCount = threads }
        for model in configuration.models {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: model.path.path, isDirectory: &isDirectory), isDirectory.boolValue else {
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
        let app = buildApplication(configuration: configuration, models: registry, logger: logger)
        try await app.runService()
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
        overrides.maxBodyBytes = maxBodyBytes
        overrides.idleTimeoutSeconds = idleTimeout
        overrides.requestTimeoutSeconds = requestTimeout
        overrides.threads = threads
        if let model { overrides.modelPath = try resolveModelDirectory(model).path }
        overrides.modelName = modelName
        overrides.adapter = adapter
        overrides.lora = lora
        overrides.deviceMap = deviceMap
        overrides.maxMemory = maxMemory.isEmpty ? nil : maxMemory
        overrides.quantization = quantizationFlags()
        do {
            return try ConfigurationLoader.load(file: file, environment: environment, overrides: overrides)
        } catch let error as ConfigurationError {
            throw CLIError("\(error)")
        }
    }

    /// The bitsandbytes flags as transformers' `quantization_config` keys (nil when none was given).
    func quantizationFlags() -> [String: Any]? {
        var fields: [String: Any] = [:]
        if loadIn8bit { fields["load_in_8bit"] = true }
        if loadIn4bit { fields["load_in_4bit"] = true }
        if let bnb4bitQuantType { fields["bnb_4bit_quant_type"] = bnb4bitQuantType }
        if bnb4bitUseDoubleQuant { fields["bnb_4bit_use_double_quant"] = true }
        if let bnb4bitComputeDtype { fields["bnb_4bit_compute_dtype"] = bnb4bitComputeDtype }
        if let llmInt8Threshold { fields["llm_int8_threshold"] = llmInt8Threshold }
        return fields.isEmpty ? nil : fields
    }
}
