import Foundation
import NibbleEngine
import NibbleFormats
import NibbleKernels
import NibbleModels
import Yams

/// A configuration file or setting that cannot be used, naming the key.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var key: String
    public var reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String { "configuration '\(key)': \(reason)" }
}

/// Settings given on the command line; nil leaves the file/environment value.
public struct ConfigurationOverrides {
    public var host: String?
    public var port: Int?
    public var apiKeys: [String]?
    public var maxConcurrent: Int?
    public var maxQueue: Int?
    public var maxBodyBytes: Int?
    public var idleTimeoutSeconds: Double?
    public var requestTimeoutSeconds: Double?
    public var threads: Int?
    public var shutdownTimeoutSeconds: Double?
    public var maxConnections: Int?
    /// Host names the `Host` header may carry (replaces the configured list).
    public var allowedHosts: [String]?
    /// Origins allowed to call from a browser (replaces the configured list).
    public var corsAllowedOrigins: [String]?
    /// Serve only this checkpoint directory (replaces the configured models).
    public var modelPath: String?
    /// Name for `modelPath` (default: the directory name).
    public var modelName: String?
    /// `--alias`: other names for the (first) model.
    public var aliases: [String]?
    /// Adapter and LoRA for `modelPath`, or for the first configured model.
    public var adapter: String?
    public var lora: String?
    /// bitsandbytes settings for that model, as transformers' JSON keys.
    public var quantization: [String: Any]?
    public var deviceMap: String?
    /// `tier=size` budgets, e.g. `cpu=2GiB`.
    public var maxMemory: [String]?
    /// `--offload-folder`.
    public var offloadFolder: String?
    /// KV cache pool per model (`kv_cache_memory`: `2GiB`, `40%` of free memory, `auto`), element type
    /// (`kv_cache_dtype`) and tokens per engine step (`max_batch_tokens`).
    public var kvCacheMemory: String?
    public var kvCacheDType: String?
    public var maxBatchTokens: Int?

    public init() {}
}

/// Builds a `ServerConfiguration` from file, environment and flags (later sources win).
///
/// Relative model paths are resolved against the current directory, so `nibble serve` run from a checkout
/// finds `models/kjv-llama-4m` whichever config file it reads.
public enum ConfigurationLoader {
    /// The model served when nothing else is configured.
    public static let embeddedModelName = "kjv-llama-4m"
    public static let embeddedModelPath = "models/kjv-llama-4m"

    public static func load(file: URL?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            overrides: ConfigurationOverrides = ConfigurationOverrides(),
                            currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws -> ServerConfiguration
    {
        var configuration = ServerConfiguration()
        if let file {
            let text: String
            do { text = try String(contentsOf: file, encoding: .utf8) } catch {
                throw ConfigurationError(key: file.path, reason: "cannot read the file (\(error.localizedDescription))")
            }
            configuration = try parse(yaml: text, currentDirectory: currentDirectory, environment: environment)
        }
        try applyEnvironment(environment, to: &configuration, currentDirectory: currentDirectory)
        try apply(overrides, to: &configuration, currentDirectory: currentDirectory, environment: environment)
        if configuration.models.isEmpty {
            configuration.models = [ModelConfiguration(
                name: embeddedModelName, path: resolve(embeddedModelPath, against: currentDirectory))]
        }
        if let aliases = overrides.aliases, !aliases.isEmpty {
            if aliases.contains("") { throw ConfigurationError(key: "--alias", reason: "an alias must not be empty") }
            configuration.models[0].aliases = aliases
        }
        try checkNamesUnique(configuration.models)
        let ceiling = FileDescriptorLimit.connectionCeiling
        if configuration.maxConnections > ceiling {
            throw ConfigurationError(
                key: "max_connections",
                reason: "\(configuration.maxConnections) exceeds what the open-file limit allows (\(ceiling): ulimit -n "
                    + "less \(FileDescriptorLimit.reserved) kept for model files); raise the limit or lower the setting")
        }
        return configuration
    }

    /// Parses YAML (JSON is valid YAML) into a configuration.
    public static func parse(yaml text: String, currentDirectory: URL,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServerConfiguration {
        let raw: Any?
        do { raw = try Yams.load(yaml: text) } catch {
            throw ConfigurationError(key: "(file)", reason: "not valid YAML: \(error)")
        }
        var configuration = ServerConfiguration()
        guard let raw else { return configuration }
        let root = try Node(raw, path: "").object()
        try rejectUnknownKeys(root, known: ["server", "models"], in: "")
        if let server = root["server"] {
            let section = try server.object()
            try rejectUnknownKeys(section, known: ["host", "port", "api_keys", "max_body_bytes", "shutdown_timeout_seconds",
                                                   "metrics_require_key", "threads", "idle_timeout_seconds",
                                                   "request_timeout_seconds", "max_concurrent", "max_queue",
                                                   "retry_after_seconds", "max_connections", "allowed_hosts",
                                                   "cors_allowed_origins", "kv_cache_memory", "kv_cache_dtype",
                                                   "max_batch_tokens", "prefix_caching"], in: "server")
            if let value = section["host"] { configuration.host = try value.string() }
            if let value = section["port"] { configuration.port = try value.int(in: 0...65535) }
            if let value = section["api_keys"] {
                configuration.apiKeys = try value.stringList()
                if let blank = configuration.apiKeys.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                    throw ConfigurationError(key: "\(value.path)[\(blank)]", reason: "is empty; an empty key would accept anyone")
                }
            }
            if let value = section["max_body_bytes"] {
                configuration.maxBodyBytes = try value.byteCount()
                guard configuration.maxBodyBytes > 0 else {
                    throw ConfigurationError(key: value.path, reason: "must be at least 1 (0 would refuse every POST)")
                }
            }
            if let value = section["shutdown_timeout_seconds"] {
                let seconds = (value.plain as? Double) ?? (value.plain as? Int).map(Double.init)
                guard let seconds, seconds >= 0, seconds <= 86_400 else {
                    throw ConfigurationError(key: value.path, reason: "must be a number of seconds in [0, 86400]")
                }
                configuration.shutdownTimeoutSeconds = seconds
            }
            if let value = section["max_connections"] { configuration.maxConnections = try value.int(in: 1...1_000_000) }
            if let value = section["allowed_hosts"] { configuration.allowedHosts = try value.nonEmptyStringList() }
            if let value = section["cors_allowed_origins"] {
                configuration.corsAllowedOrigins = try value.nonEmptyStringList()
                try checkOrigins(configuration.corsAllowedOrigins, key: value.path)
            }
            if let value = section["metrics_require_key"] { configuration.metricsRequireKey = try value.bool() }
            if let value = section["threads"] { configuration.threads = try value.int(in: 1...4096) }
            if let value = section["idle_timeout_seconds"] { configuration.idleTimeoutSeconds = try value.seconds() }
            if let value = section["request_timeout_seconds"] { configuration.requestTimeoutSeconds = try value.seconds() }
            var limits = configuration.limits
            if let value = section["max_concurrent"] { limits.maxConcurrent = try value.int(in: 1...1024) }
            if let value = section["max_queue"] { limits.maxQueued = try value.int(in: 0...100_000) }
            if let value = section["retry_after_seconds"] { limits.retryAfterSeconds = try value.int(in: 1...3600) }
            if let value = section["max_batch_tokens"] { limits.maxBatchTokens = try value.int(in: 1...1_000_000) }
            if let value = section["kv_cache_memory"] {
                let text = try (value.plain as? Int).map(String.init) ?? value.string()
                limits.kvCache.memory = try kvMemory(text, key: value.path)
            }
            if let value = section["kv_cache_dtype"] { limits.kvCache.dtype = try kvDType(try value.string(), key: value.path) }
            if let value = section["prefix_caching"] { limits.kvCache.prefixCaching = try value.bool() }
            configuration.limits = limits
        }
        if let models = root["models"] {
            for (name, node) in try models.orderedObject() {
                configuration.models.append(try parseModel(name: name, node: node, currentDirectory: currentDirectory,
                                                           environment: environment))
            }
            try checkNamesUnique(configuration.models)
        }
        return configuration
    }

    /// Every name and alias must lead to one model, or a request could not tell which it means.
    private static func checkNamesUnique(_ models: [ModelConfiguration]) throws {
        var owner: [String: String] = [:]
        for model in models {
            for name in [model.name] + model.aliases {
                if let other = owner[name], other != model.name || name != model.name {
                    let key = name == model.name ? "models.\(name)" : "models.\(model.name).aliases"
                    throw ConfigurationError(key: key, reason: "'\(name)' already names the model '\(other)'")
                }
                owner[name] = model.name
            }
        }
    }

    // MARK: - Sections

    /// A key Nibble does not read is an error naming it, so a misspelt or unsupported setting never passes quietly.
    private static func rejectUnknownKeys(_ mapping: [String: Node], known: Set<String>, in path: String) throws {
        for key in mapping.keys.sorted() where !known.contains(key) {
            throw ConfigurationError(key: path.isEmpty ? key : "\(path).\(key)",
                                     reason: "is not a setting Nibble knows (known: \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// An `offload_folder`: an existing directory, resolved against `currentDirectory`.
    static func offloadFolder(_ value: String, key: String, currentDirectory: URL) throws -> URL {
        let url = resolve(value, against: currentDirectory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigurationError(key: key, reason: "\(url.path) is not a directory")
        }
        return url
    }

    /// A model's `chat_template`: inline Jinja text (it has a `{{` or `{%` tag) or a file path. Parsed here, so a
    /// broken template is a start-up error naming the key.
    static func chatTemplate(_ value: String, key: String, currentDirectory: URL) throws -> ChatTemplateTexts {
        let texts: ChatTemplateTexts
        if value.contains("{{") || value.contains("{%") {
            texts = ChatTemplateTexts(single: value, origin: "configuration \(key)")
        } else {
            let url = resolve(value, against: currentDirectory)
            do { texts = ChatTemplateTexts(single: try String(contentsOf: url, encoding: .utf8), origin: url.path) } catch {
                throw ConfigurationError(key: key, reason: "is neither a template (no {{ or {% tag) nor a readable file: \(url.path)")
            }
        }
        do { _ = try ModelChatTemplate(texts, specialTokens: [:]) } catch {
            throw ConfigurationError(key: key, reason: "\(error)")
        }
        return texts
    }

    private static func parseModel(name: String, node: Node, currentDirectory: URL,
                                   environment: [String: String]) throws -> ModelConfiguration {
        let section = try node.object()
        try rejectUnknownKeys(section, known: ["path", "adapter", "lora", "quantization", "placement", "defaults",
                                               "chat_template", "aliases"],
                              in: "models.\(name)")
        guard let pathNode = section["path"] else {
            throw ConfigurationError(key: "models.\(name).path", reason: "is required (the checkpoint directory)")
        }
        let path = try modelDirectory(try pathNode.string(), key: pathNode.path, currentDirectory: currentDirectory,
                                      environment: environment)
        var model = ModelConfiguration(name: name, path: path)
        if let value = section["adapter"] {
            model.adapter = try value.string()
            guard ModelAdapters.named(model.adapter) != nil else {
                throw ConfigurationError(key: value.path, reason: "unknown adapter '\(model.adapter)' (known: \(ModelAdapters.names.joined(separator: ", ")))")
            }
        }
        if let value = section["chat_template"], !value.isNull {
            model.chatTemplate = try chatTemplate(try value.string(), key: value.path, currentDirectory: currentDirectory)
        }
        if let value = section["aliases"], !value.isNull {
            model.aliases = try value.stringList()
            if let empty = model.aliases.first(where: { $0.isEmpty }) {
                throw ConfigurationError(key: value.path, reason: "an alias must not be empty ('\(empty)')")
            }
        }
        if let value = section["lora"], !value.isNull { model.lora = resolve(try value.string(), against: currentDirectory) }
        if let value = section["quantization"], !value.isNull {
            model.quantizationJSON = try JSONSerialization.data(withJSONObject: try value.plainObject(), options: [.sortedKeys])
        }
        if let placement = section["placement"] {
            let placementSection = try placement.object()
            try rejectUnknownKeys(placementSection, known: ["device_map", "max_memory", "offload_folder"], in: placement.path)
            if let value = placementSection["offload_folder"], !value.isNull {
                model.offloadFolder = try offloadFolder(try value.string(), key: value.path, currentDirectory: currentDirectory)
            }
            if let value = placementSection["device_map"] {
                do { model.deviceMap = try DeviceMap(parsing: value.plain) } catch {
                    throw ConfigurationError(key: value.path, reason: "\(error)")
                }
            }
            if let value = placementSection["max_memory"] {
                for (tierName, sizeNode) in try value.orderedObject() {
                    guard let tier = Tier(rawValue: tierName) else {
                        throw ConfigurationError(key: sizeNode.path, reason: "unknown tier (use cpu or disk)")
                    }
                    model.maxMemory[tier] = try sizeNode.byteCount()
                }
            }
        }
        if let defaults = section["defaults"] {
            let d = try defaults.object()
            try rejectUnknownKeys(d, known: ["do_sample", "max_new_tokens", "max_tokens", "min_p", "repetition_penalty",
                                             "stop", "temperature", "top_k", "top_p"], in: defaults.path)
            if let v = d["max_tokens"] ?? d["max_new_tokens"] { model.defaults.maxTokens = try v.int(in: 1...1_000_000) }
            if let v = d["do_sample"] { model.defaults.doSample = try v.bool() }
            if let v = d["temperature"] { model.defaults.temperature = try v.float() }
            if let v = d["top_k"] { model.defaults.topK = try v.int(in: 0...1_000_000) }
            if let v = d["top_p"] { model.defaults.topP = try v.float() }
            if let v = d["min_p"] { model.defaults.minP = try v.float() }
            if let v = d["repetition_penalty"] { model.defaults.repetitionPenalty = try v.float() }
            if let v = d["stop"] { model.defaults.stop = try v.stringList() }
        }
        return model
    }

    private static func applyEnvironment(_ environment: [String: String], to configuration: inout ServerConfiguration,
                                         currentDirectory: URL) throws {
        func value(_ name: String) -> String? {
            guard let text = environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        func int(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text), range.contains(number) else {
                throw ConfigurationError(key: name, reason: "'\(text)' is not an integer in \(range)")
            }
            return number
        }
        var overrides = ConfigurationOverrides()
        overrides.host = value("NIBBLE_HOST")
        overrides.port = try int("NIBBLE_PORT", 0...65535)
        for name in ["NIBBLE_API_KEYS", "NIBBLE_API_KEY"] {
            guard let text = environment[name] else { continue }
            let keys = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if keys.contains(where: \.isEmpty) {
                throw ConfigurationError(key: name, reason: "holds an empty key; an empty key would accept anyone (unset the variable to run without keys)")
            }
            overrides.apiKeys = keys
            break
        }
        overrides.maxConcurrent = try int("NIBBLE_MAX_CONCURRENT", 1...1024)
        overrides.maxQueue = try int("NIBBLE_MAX_QUEUE", 0...100_000)
        overrides.maxBatchTokens = try int("NIBBLE_MAX_BATCH_TOKENS", 1...1_000_000)
        overrides.kvCacheMemory = value("NIBBLE_KV_CACHE_MEMORY")
        overrides.kvCacheDType = value("NIBBLE_KV_CACHE_DTYPE")
        overrides.maxBodyBytes = try int("NIBBLE_MAX_BODY_BYTES", 1...Int.max)
        overrides.idleTimeoutSeconds = try int("NIBBLE_IDLE_TIMEOUT", 1...86_400).map(Double.init)
        overrides.requestTimeoutSeconds = try int("NIBBLE_REQUEST_TIMEOUT", 1...86_400).map(Double.init)
        overrides.maxConnections = try int("NIBBLE_MAX_CONNECTIONS", 1...1_000_000)
        overrides.modelPath = value("NIBBLE_MODEL")
        try apply(overrides, to: &configuration, currentDirectory: currentDirectory, environment: environment)
    }

    private static func apply(_ overrides: ConfigurationOverrides, to configuration: inout ServerConfiguration,
                              currentDirectory: URL, environment: [String: String]) throws {
        try checkRanges(overrides)
        if let host = overrides.host { configuration.host = host }
        if let port = overrides.port { configuration.port = port }
        if let keys = overrides.apiKeys {
            if keys.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                throw ConfigurationError(key: "--api-key", reason: "is empty; an empty key would accept anyone")
            }
            configuration.apiKeys = keys
        }
        if let bytes = overrides.maxBodyBytes { configuration.maxBodyBytes = bytes }
        if let seconds = overrides.shutdownTimeoutSeconds { configuration.shutdownTimeoutSeconds = seconds }
        for (key, seconds) in [("--idle-timeout", overrides.idleTimeoutSeconds), ("--request-timeout", overrides.requestTimeoutSeconds)] {
            if let seconds, !(seconds > 0 && seconds <= 86_400) {
                throw ConfigurationError(key: key, reason: "must be a number of seconds in (0, 86400]")
            }
        }
        if let seconds = overrides.idleTimeoutSeconds { configuration.idleTimeoutSeconds = seconds }
        if let seconds = overrides.requestTimeoutSeconds { configuration.requestTimeoutSeconds = seconds }
        if let threads = overrides.threads { configuration.threads = threads }
        if let limit = overrides.maxConnections { configuration.maxConnections = limit }
        if let hosts = overrides.allowedHosts {
            if hosts.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                throw ConfigurationError(key: "--allowed-host", reason: "is empty; name a host, or * for any")
            }
            configuration.allowedHosts = hosts
        }
        if let origins = overrides.corsAllowedOrigins {
            try checkOrigins(origins, key: "--cors-allowed-origin")
            configuration.corsAllowedOrigins = origins
        }
        if let value = overrides.maxConcurrent { configuration.limits.maxConcurrent = value }
        if let value = overrides.maxQueue { configuration.limits.maxQueued = value }
        if let value = overrides.maxBatchTokens { configuration.limits.maxBatchTokens = value }
        if let text = overrides.kvCacheMemory { configuration.limits.kvCache.memory = try kvMemory(text, key: "--kv-cache-memory") }
        if let text = overrides.kvCacheDType { configuration.limits.kvCache.dtype = try kvDType(text, key: "--kv-cache-dtype") }
        if let path = overrides.modelPath {
            let url = try modelDirectory(path, key: "--model", currentDirectory: currentDirectory, environment: environment)
            // A hub id names the model as written (ORG/NAME); a directory by its last component.
            let inCache = url != resolve(path, against: currentDirectory)
            configuration.models = [ModelConfiguration(name: overrides.modelName ?? (inCache ? path : url.lastPathComponent), path: url)]
        } else if let name = overrides.modelName, !configuration.models.isEmpty {
            configuration.models[0].name = name
        }
        let touchesModel = overrides.adapter != nil || overrides.lora != nil || overrides.quantization != nil
            || overrides.deviceMap != nil || overrides.maxMemory != nil || overrides.offloadFolder != nil
        guard touchesModel else { return }
        if configuration.models.isEmpty {
            configuration.models = [ModelConfiguration(name: embeddedModelName,
                                                       path: resolve(embeddedModelPath, against: currentDirectory))]
        }
        var model = configuration.models[0]
        if let adapter = overrides.adapter {
            guard ModelAdapters.named(adapter) != nil else {
                throw ConfigurationError(key: "--adapter", reason: "unknown adapter '\(adapter)' (known: \(ModelAdapters.names.joined(separator: ", ")))")
            }
            model.adapter = adapter
        }
        if let lora = overrides.lora { model.lora = resolve(lora, against: currentDirectory) }
        if let quantization = overrides.quantization {
            model.quantizationJSON = try JSONSerialization.data(withJSONObject: quantization, options: [.sortedKeys])
        }
        if let deviceMap = overrides.deviceMap {
            do { model.deviceMap = try DeviceMap(parsing: deviceMap) } catch {
                throw ConfigurationError(key: "--device-map", reason: "\(error)")
            }
        }
        if let folder = overrides.offloadFolder {
            model.offloadFolder = try offloadFolder(folder, key: "--offload-folder", currentDirectory: currentDirectory)
        }
        for entry in overrides.maxMemory ?? [] {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let tier = Tier(rawValue: parts[0]) else {
                throw ConfigurationError(key: "--max-memory", reason: "'\(entry)' is not tier=size (e.g. cpu=2GiB)")
            }
            do { model.maxMemory[tier] = try MemorySize(parsing: parts[1]).bytes } catch {
                throw ConfigurationError(key: "--max-memory", reason: "\(error)")
            }
        }
        configuration.models[0] = model
    }

    private static func kvMemory(_ text: String, key: String) throws -> KVMemoryBudget {
        do { return try KVMemoryBudget(parsing: text) } catch {
            throw ConfigurationError(key: key, reason: "'\(text)' is not a size (2GiB, 500MB), a share of free memory (40%) or auto")
        }
    }

    private static func kvDType(_ text: String, key: String) throws -> KVCacheDType {
        guard let dtype = KVCacheDType(rawValue: text) else {
            throw ConfigurationError(key: key, reason: "'\(text)' is not one of float32, float16, bfloat16")
        }
        return dtype
    }

    /// Flag values out of range are refused by name (a port of 99999 would otherwise wrap to another port).
    private static func checkRanges(_ overrides: ConfigurationOverrides) throws {
        let integers: [(String, Int?, ClosedRange<Int>, String)] = [
            ("--port", overrides.port, 0...65535, "a port in 1...65535 (0 picks a free one)"),
            ("--parallel", overrides.maxConcurrent, 1...1024, "an integer in 1...1024"),
            ("--max-queue", overrides.maxQueue, 0...100_000, "an integer in 0...100000"),
            ("--max-batch-tokens", overrides.maxBatchTokens, 1...1_000_000, "an integer in 1...1000000"),
            ("--max-body-bytes", overrides.maxBodyBytes, 1...Int.max, "a positive byte count (0 would refuse every POST)"),
            ("--threads", overrides.threads, 1...4096, "an integer in 1...4096"),
            ("--max-connections", overrides.maxConnections, 1...1_000_000, "an integer in 1...1000000"),
        ]
        for (key, value, range, expected) in integers {
            if let value, !range.contains(value) { throw ConfigurationError(key: key, reason: "\(value) is not \(expected)") }
        }
        if let seconds = overrides.shutdownTimeoutSeconds, !(seconds >= 0 && seconds <= 86_400) {
            throw ConfigurationError(key: "--shutdown-timeout", reason: "must be a number of seconds in [0, 86400]")
        }
    }

    /// An origin is `scheme://host[:port]` exactly as browsers send it (no path, no trailing slash), or `*`.
    private static func checkOrigins(_ origins: [String], key: String) throws {
        for origin in origins where origin != "*" {
            let parts = origin.components(separatedBy: "://")
            guard parts.count == 2, ["http", "https"].contains(parts[0].lowercased()), !parts[1].isEmpty,
                  !parts[1].contains("/") else {
                throw ConfigurationError(key: key, reason: "'\(origin)' is not an origin like https://app.example or http://localhost:3000 (or *)")
            }
        }
    }

    /// A model path: a directory, or a hub id `ORG/NAME[@REVISION]` already in the hub cache. A path that is
    /// neither is kept as written, so `nibble serve` reports the missing directory by name.
    static func modelDirectory(_ text: String, key: String, currentDirectory: URL,
                               environment: [String: String]) throws -> URL {
        do {
            return try ModelLocation.resolve(text, currentDirectory: currentDirectory, environment: environment)
        } catch HubError.invalidRepoId {
            return resolve(text, against: currentDirectory)
        } catch {
            throw ConfigurationError(key: key, reason: "\(error)")
        }
    }

    static func resolve(_ path: String, against directory: URL) -> URL {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return URL(fileURLWithPath: expanded).standardizedFileURL }
        return directory.appendingPathComponent(expanded).standardizedFileURL
    }
}

// MARK: - Reading untyped YAML with key paths in errors

/// A value from the YAML tree and where it sits, so every error names its key (`models.x.placement.max_memory`).
struct Node {
    let plain: Any
    let path: String

    init(_ plain: Any, path: String) {
        self.plain = plain
        self.path = path
    }

    var isNull: Bool { plain is NSNull }

    private func fail(_ reason: String) -> ConfigurationError { ConfigurationError(key: path.isEmpty ? "(root)" : path, reason: reason) }

    /// A mapping, keys in file order.
    func orderedObject() throws -> [(String, Node)] {
        if isNull { return [] }
        guard let dictionary = plain as? [AnyHashable: Any] else { throw fail("must be a mapping") }
        // Yams returns an unordered dictionary; order by key for stable behaviour.
        return dictionary.map { ("\($0.key)", $0.value) }.sorted { $0.0 < $1.0 }
            .map { ($0.0, Node($0.1, path: path.isEmpty ? $0.0 : "\(path).\($0.0)")) }
    }

    func object() throws -> [String: Node] {
        Dictionary(try orderedObject(), uniquingKeysWith: { first, _ in first })
    }

    func string() throws -> String {
        if let text = plain as? String { return text }
        if let number = plain as? Int { return String(number) }
        throw fail("must be a string")
    }

    func bool() throws -> Bool {
        guard let value = plain as? Bool else { throw fail("must be true or false") }
        return value
    }

    func int(in range: ClosedRange<Int>) throws -> Int {
        guard let value = plain as? Int, range.contains(value) else { throw fail("must be an integer in \(range)") }
        return value
    }

    func float() throws -> Float {
        if let value = plain as? Double { return Float(value) }
        if let value = plain as? Int { return Float(value) }
        throw fail("must be a number")
    }

    /// A positive duration in seconds (integer or decimal).
    func seconds() throws -> Double {
        let value = (plain as? Double) ?? (plain as? Int).map(Double.init)
        guard let value, value > 0, value <= 86_400 else { throw fail("must be a number of seconds in (0, 86400]") }
        return value
    }

    func stringList() throws -> [String] {
        if isNull { return [] }
        if let text = plain as? String { return [text] }
        guard let list = plain as? [Any] else { throw fail("must be a list of strings") }
        return try list.enumerated().map { try Node($0.element, path: "\(path)[\($0.offset)]").string() }
    }

    /// A list of non-blank strings (a single string is a list of one).
    func nonEmptyStringList() throws -> [String] {
        let list = try stringList()
        if let blank = list.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw ConfigurationError(key: "\(path)[\(blank)]", reason: "is empty")
        }
        return list
    }

    /// An integer, or a size such as "2GiB" / "500MB".
    func byteCount() throws -> Int {
        if let value = plain as? Int, value >= 0 { return value }
        guard let text = plain as? String else { throw fail("must be a byte count or a size like 2GiB") }
        do { return try MemorySize(parsing: text).bytes } catch { throw fail("\(error)") }
    }

    /// The value as Foundation JSON objects (mapping keys as strings), for `JSONSerialization`.
    func plainObject() throws -> Any {
        func convert(_ value: Any, _ path: String) throws -> Any {
            switch value {
            case let dictionary as [AnyHashable: Any]:
                var out: [String: Any] = [:]
                for (key, item) in dictionary { out["\(key)"] = try convert(item, "\(path).\(key)") }
                return out
            case let list as [Any]: return try list.map { try convert($0, path) }
            case is NSNull, is String, is Bool, is Int, is Double: return value
            default: throw ConfigurationError(key: path, reason: "unsupported value \(value)")
            }
        }
        guard plain is [AnyHashable: Any] else { throw fail("must be a mapping") }
        return try convert(plain, path)
    }
}
