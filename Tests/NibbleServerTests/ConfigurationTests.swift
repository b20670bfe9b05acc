import Foundation
import NibbleModels
import NibbleQuant
import Testing
@testable import NibbleServer

/// `config/nibble.yaml`, environment and flags, in that order of precedence, with errors that name the key.
@Suite struct ConfigurationTests {
    /// A scratch directory with a model folder and a hub cache holding `acme/tiny` at a fixed commit.
    struct Scratch {
        let root: URL
        let commit = String(repeating: "ab", count: 20)

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-config-\(UUID().uuidString)")
            let fm = FileManager.default
            try fm.createDirectory(at: root.appendingPathComponent("models/local"), withIntermediateDirectories: true)
            try fm.createDirectory(at: root.appendingPathComponent("offload"), withIntermediateDirectories: true)
            let repo = root.appendingPathComponent("hf/hub/models--acme--tiny")
            try fm.createDirectory(at: repo.appendingPathComponent("snapshots/\(commit)"), withIntermediateDirectories: true)
            try fm.createDirectory(at: repo.appendingPathComponent("refs"), withIntermediateDirectories: true)
            try Data(commit.utf8).write(to: repo.appendingPathComponent("refs/main"))
        }

        var environment: [String: String] { ["HF_HOME": root.appendingPathComponent("hf").path] }
        var snapshot: URL { root.appendingPathComponent("hf/hub/models--acme--tiny/snapshots/\(commit)") }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    static let yaml = """
        server:
          host: 0.0.0.0
          port: 9000
          api_keys: [one, two]
          max_body_bytes: 2MiB
          idle_timeout_seconds: 15
          request_timeout_seconds: 2.5
          max_concurrent: 3
          max_queue: 7
          max_connections: 100
          allowed_hosts: [nibble.lan]
          cors_allowed_origins: ["https://app.example", "http://localhost:3000"]
        models:
          local:
            path: models/local
            adapter: guanaco
            quantization:
              load_in_4bit: true
              bnb_4bit_quant_type: nf4
              bnb_4bit_use_double_quant: true
            placement:
              device_map: auto
              max_memory: {cpu: 2GiB}
              offload_folder: offload
            defaults:
              max_tokens: 64
              temperature: 0.7
              stop: ["###"]
          hub:
            path: acme/tiny
        """

    @Test func fileSettingsReachEveryField() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let configuration = try ConfigurationLoader.parse(yaml: Self.yaml, currentDirectory: scratch.root,
                                                          environment: scratch.environment)
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 9000)
        #expect(configuration.apiKeys == ["one", "two"])
        #expect(configuration.maxBodyBytes == 2 << 20)
        #expect(configuration.idleTimeoutSeconds == 15)
        #expect(configuration.requestTimeoutSeconds == 2.5)
        #expect(configuration.limits.maxConcurrent == 3)
        #expect(configuration.limits.maxQueued == 7)
        #expect(configuration.maxConnections == 100)
        #expect(configuration.allowedHosts == ["nibble.lan"])
        #expect(configuration.corsAllowedOrigins == ["https://app.example", "http://localhost:3000"])
        // Sorted by name: the first is the default for requests that name none.
        #expect(configuration.models.map(\.name) == ["hub", "local"])

        let local = try #require(configuration.models.first { $0.name == "local" })
        #expect(local.path.path == scratch.root.appendingPathComponent("models/local").standardizedFileURL.path)
        #expect(local.adapter == "guanaco")
        #expect(local.maxMemory[.cpu] == 2 << 30)
        #expect(local.offloadFolder?.standardizedFileURL.path == scratch.root.appendingPathComponent("offload").standardizedFileURL.path)
        #expect(local.defaults.maxTokens == 64)
        #expect(local.defaults.temperature == 0.7)
        #expect(local.defaults.stop == ["###"])
        let plan = try BitsAndBytesConfig.decodeStrict(from: try #require(local.quantizationJSON)).validated()
        #expect(plan.mode == .fourBit(type: .nf4, doubleQuant: true, computeDType: .float32))

        // A hub id resolves to the cached snapshot, offline.
        #expect(configuration.models[0].path.standardizedFileURL == scratch.snapshot.standardizedFileURL)
    }

    @Test func environmentThenFlagsOverrideTheFile() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = scratch.root.appendingPathComponent("nibble.yaml")
        try Self.yaml.write(to: file, atomically: true, encoding: .utf8)
        var environment = scratch.environment
        environment["NIBBLE_PORT"] = "9100"
        environment["NIBBLE_MAX_QUEUE"] = "11"
        environment["NIBBLE_IDLE_TIMEOUT"] = "5"
        var overrides = ConfigurationOverrides()
        overrides.port = 9200
        overrides.modelPath = "acme/tiny"
        overrides.requestTimeoutSeconds = 4
        let configuration = try ConfigurationLoader.load(file: file, environment: environment, overrides: overrides,
                                                         currentDirectory: scratch.root)
        #expect(configuration.port == 9200)  // flag over environment over file
        #expect(configuration.limits.maxQueued == 11)  // environment over file
        #expect(configuration.idleTimeoutSeconds == 5)
        #expect(configuration.requestTimeoutSeconds == 4)
        #expect(configuration.host == "0.0.0.0")  // file
        // --model replaces the configured models; a hub id keeps its name.
        #expect(configuration.models.map(\.name) == ["acme/tiny"])
        #expect(configuration.models[0].path.standardizedFileURL == scratch.snapshot.standardizedFileURL)
    }

    @Test func withNothingConfiguredTheEmbeddedModelIsServed() throws {
        let directory = URL(fileURLWithPath: "/srv/nibble")
        let configuration = try ConfigurationLoader.load(file: nil, environment: [:], currentDirectory: directory)
        #expect(configuration.models.map(\.name) == [ConfigurationLoader.embeddedModelName])
        #expect(configuration.models[0].path.path == "/srv/nibble/models/kjv-llama-4m")
        #expect(configuration.idleTimeoutSeconds == 60)
        #expect(configuration.requestTimeoutSeconds == 30)
    }

    @Test(arguments: [
        ("server: {port: 70000}", "server.port"),
        ("server: {idle_timeout_seconds: -1}", "server.idle_timeout_seconds"),
        ("server: {max_body_bytes: lots}", "server.max_body_bytes"),
        ("models: {x: {adapter: llama}}", "models.x.path"),
        ("models: {x: {path: m, adapter: gpt}}", "models.x.adapter"),
        ("models: {x: {path: m, placement: {max_memory: {gpu: 1GiB}}}}", "models.x.placement.max_memory.gpu"),
        ("models: {x: {path: m, placement: {offload_folder: nowhere}}}", "models.x.placement.offload_folder"),
        ("models: {x: {path: acme/missing}}", "models.x.path"),
        ("models: {x: {path: m, defaults: {max_tokens: zero}}}", "models.x.defaults.max_tokens"),
        ("server: [1, 2", "(file)"),
        ("models: {x: {path: m, aliases: [y, x2]}, y: {path: m}}", "models.y"),
        ("models: {x: {path: m, aliases: [z]}, y: {path: m, aliases: [z]}}", "models.y.aliases"),
        ("models: {x: {path: m, aliases: ['']}}", "models.x.aliases"),
    ])
    func badSettingsNameTheirKey(yaml: String, key: String) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        #expect {
            try ConfigurationLoader.parse(yaml: yaml, currentDirectory: scratch.root, environment: scratch.environment)
        } throws: { error in
            (error as? ConfigurationError)?.key == key
        }
    }

    @Test func badEnvironmentAndFlagValuesAreErrors() throws {
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(file: nil, environment: ["NIBBLE_PORT": "http"], currentDirectory: URL(fileURLWithPath: "/"))
        }
        var overrides = ConfigurationOverrides()
        overrides.idleTimeoutSeconds = 0
        #expect {
            try ConfigurationLoader.load(file: nil, environment: [:], overrides: overrides, currentDirectory: URL(fileURLWithPath: "/"))
        } throws: { error in
            (error as? ConfigurationError)?.key == "--idle-timeout"
        }
    }
}
