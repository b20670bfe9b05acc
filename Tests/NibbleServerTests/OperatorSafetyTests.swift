import Foundation
import NibbleEngine
@testable import NibbleServer
import NibbleTestFakes
import Testing

/// Keys, health reporting and start-up values an operator can get wrong.
@Suite struct OperatorSafetyTests {
    static func loadError(environment: [String: String] = [:], _ change: (inout ConfigurationOverrides) -> Void) -> ConfigurationError? {
        var overrides = ConfigurationOverrides()
        change(&overrides)
        do {
            _ = try ConfigurationLoader.load(file: nil, environment: environment, overrides: overrides)
            return nil
        } catch {
            return error as? ConfigurationError
        }
    }

    @Test func emptyOrBlankKeysAndOutOfRangeFlagsAreStartupErrorsNamingTheSetting() throws {
        #expect(Self.loadError { $0.apiKeys = [""] }?.key == "--api-key")
        #expect(Self.loadError { $0.apiKeys = ["good", "  "] }?.key == "--api-key")
        #expect(Self.loadError(environment: ["NIBBLE_API_KEYS": "a,,b"]) { _ in }?.key == "NIBBLE_API_KEYS")
        #expect(Self.loadError(environment: ["NIBBLE_API_KEYS": " "]) { _ in }?.key == "NIBBLE_API_KEYS")
        #expect(Self.loadError { $0.port = 99999 }?.key == "--port")
        #expect(Self.loadError { $0.port = -1 }?.key == "--port")
        #expect(Self.loadError { $0.maxBodyBytes = 0 }?.key == "--max-body-bytes")
        #expect(Self.loadError { $0.maxConcurrent = 0 }?.key == "--parallel")
        #expect(Self.loadError { $0.threads = 0 }?.key == "--threads")
        #expect(Self.loadError { $0.shutdownTimeoutSeconds = -1 }?.key == "--shutdown-timeout")
        #expect(Self.loadError { $0.apiKeys = ["k"]; $0.port = 8081 } == nil)
        #expect(Self.loadError { $0.maxConnections = 0 }?.key == "--max-connections")
        #expect(Self.loadError { $0.allowedHosts = [""] }?.key == "--allowed-host")
        #expect(Self.loadError { $0.corsAllowedOrigins = ["ftp://x"] }?.key == "--cors-allowed-origin")

        let here = URL(fileURLWithPath: "/")
        for (yaml, key) in [("server: {api_keys: ['ok', '']}", "server.api_keys[1]"),
                            ("server: {max_body_bytes: 0}", "server.max_body_bytes"),
                            ("server: {port: 70000}", "server.port"),
                            ("server: {shutdown_timeout_seconds: -3}", "server.shutdown_timeout_seconds"),
                            ("server: {max_connections: 0}", "server.max_connections"),
                            ("server: {allowed_hosts: ['ok', '']}", "server.allowed_hosts[1]"),
                            ("server: {cors_allowed_origins: ['https://app.example/path']}", "server.cors_allowed_origins")] {
            #expect(throws: ConfigurationError.self, "\(yaml)") { try ConfigurationLoader.parse(yaml: yaml, currentDirectory: here) }
            do { _ = try ConfigurationLoader.parse(yaml: yaml, currentDirectory: here) } catch let error as ConfigurationError {
                #expect(error.key == key)
            }
        }
    }

    @Test(.enabled(if: FileDescriptorLimit.connectionCeiling < 1_000_000, "the open-file limit is unlimited here"))
    func aConnectionLimitBeyondTheOpenFileLimitIsAStartupError() {
        let error = Self.loadError { $0.maxConnections = FileDescriptorLimit.connectionCeiling + 1 }
        #expect(error?.key == "max_connections")
        #expect(error?.reason.contains("ulimit") == true)
        #expect(Self.loadError { $0.maxConnections = FileDescriptorLimit.connectionCeiling } == nil)
    }

    @Test func keysAreComparedInFullWhateverTheirLength() {
        #expect(APIKeys.equalInConstantTime(Array("sekret".utf8), Array("sekret".utf8)))
        #expect(!APIKeys.equalInConstantTime(Array("sekret".utf8), Array("sekreT".utf8)))
        #expect(!APIKeys.equalInConstantTime(Array("sekret".utf8), Array("sekret2".utf8)))
        #expect(!APIKeys.equalInConstantTime(Array("sekret".utf8), []))
        // A length difference of 256 must not wrap to "equal".
        #expect(!APIKeys.equalInConstantTime([], [UInt8](repeating: 0, count: 256)))
    }

    @Test func healthReportsEachModelAndIs503WhenAnyFailedWithoutShowingReasons() async throws {
        try await withServer(models: ["fake": ScriptedModel()], configure: {
            $0.models.append(ModelConfiguration(name: "broken", path: URL(fileURLWithPath: "/secret/place/broken")))
        }) { server in
            let health = try await http(server.port, "GET", "/health")
            #expect(health.status == 503)
            let object = try health.json()
            #expect(object["status"] as? String == "degraded")
            let models = try #require(object["models"] as? [[String: Any]])
            #expect(models.map { $0["name"] as? String } == ["fake", "broken"])
            #expect(models.map { $0["state"] as? String } == ["ok", "failed"])
            #expect(!health.text.contains("/secret"))
            // The model that loaded still serves.
            let completion = try await http(server.port, "POST", "/v1/completions", json: ["model": "fake", "prompt": "Hi", "max_tokens": 2])
            #expect(completion.status == 200)
        }
        try await withServer(models: [:], configure: {
            $0.models = [ModelConfiguration(name: "broken", path: URL(fileURLWithPath: "/secret/place/broken"))]
        }) { server in
            let health = try await http(server.port, "GET", "/health")
            #expect(health.status == 503)
            #expect(try health.json()["status"] as? String == "error")
            #expect(!health.text.contains("/secret"))
        }
    }

    @Test func withKeysHealthShowsStatusOnlyAndMetricsNeedAKeyUnlessConfigured() async throws {
        try await withServer(models: ["fake": ScriptedModel()], configure: { $0.apiKeys = ["sekret"] }) { server in
            let open = try await http(server.port, "GET", "/health")
            #expect(open.status == 200)
            #expect(try open.json() as NSDictionary == ["status": "ok"] as NSDictionary)
            let keyed = try await http(server.port, "GET", "/health", headers: ["Authorization": "Bearer sekret"])
            #expect((try keyed.json()["models"] as? [[String: Any]])?.count == 1)
            #expect(try await http(server.port, "GET", "/metrics").status == 401)
            #expect(try await http(server.port, "GET", "/metrics", headers: ["Authorization": "Bearer sekret"]).status == 200)
        }
        try await withServer(models: ["fake": ScriptedModel()], configure: {
            $0.apiKeys = ["sekret"]
            $0.metricsRequireKey = false
        }) { (server: TestServer) async throws -> Void in
            let metrics = try await http(server.port, "GET", "/metrics")
            #expect(metrics.status == 200)
            let models = try await http(server.port, "GET", "/v1/models")
            #expect(models.status == 401)
        }
    }

    // MARK: - The real `nibble serve`

    @Test func serveRefusesBadStartupValuesAndExitsNonZeroWhenNoModelLoads() throws {
        let emptyKey = try serveFailure(["--api-key", ""])
        #expect(emptyKey.status != nil && emptyKey.status != 0)
        #expect(emptyKey.stderr.contains("--api-key"))
        let blankEnvironment = try serveFailure([], environment: ["NIBBLE_API_KEYS": "k1, "])
        #expect(blankEnvironment.status != nil && blankEnvironment.status != 0)
        #expect(blankEnvironment.stderr.contains("NIBBLE_API_KEYS"))
        let port = try serveFailure(["--port", "99999"])
        #expect(port.status != nil && port.status != 0)
        #expect(port.stderr.contains("--port"))
        let body = try serveFailure(["--max-body-bytes", "0"])
        #expect(body.status != nil && body.status != 0)
        #expect(body.stderr.contains("--max-body-bytes"))

        // A directory that is there but holds no checkpoint: the model fails to load and serve exits non-zero.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let noModel = try serveFailure(["--model", empty.path])
        #expect(noModel.status != nil && noModel.status != 0, "\(noModel.stderr)")
        #expect(noModel.stderr.contains("no model could be loaded"))
    }
}
