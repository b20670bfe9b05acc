import Foundation
import NibbleEngine
import NibbleModels
@testable import NibbleServer
import NibbleTestFakes
import NibbleTestSupport
import Testing

/// The real server over the embedded `models/kjv-llama-4m` checkpoint.
@Suite(.serialized) struct RealModelServerTests {
    static let directory = SharedFixtures.repositoryRoot.appendingPathComponent("models/kjv-llama-4m")

    func withKJV(_ body: (TestServer) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.models = [ModelConfiguration(name: "kjv-llama-4m", path: Self.directory)]
        let registry = ModelRegistry(specs: configuration.modelSpecs)
        try await withServer(configuration: configuration, registry: registry) { server in
            guard case .ready = server.registry.entries.first?.state else {
                Issue.record("kjv-llama-4m did not load: \(String(describing: server.registry.entries.first?.state))")
                return
            }
            try await body(server)
        }
    }

    @Test func greedyAndSeededOutputMatchAcrossStreamingModes() async throws {
        try await withKJV { server in
            for sampling in [["temperature": 0] as [String: Any], ["temperature": 0.8, "top_p": 0.95, "seed": 99]] {
                var body: [String: Any] = ["model": "kjv-llama-4m", "prompt": "In the beginning God", "max_tokens": 24]
                body.merge(sampling) { $1 }
                let whole = try await http(server.port, "POST", "/v1/completions", json: body).json()
                let text = try #require((whole["choices"] as? [[String: Any]])?.first?["text"] as? String)
                #expect(!text.isEmpty)
                body["stream"] = true
                let streamed = try openAIStreamText(try await http(server.port, "POST", "/v1/completions", json: body))
                #expect(streamed.text == text)

                let again = try await http(server.port, "POST", "/v1/completions", json: body.merging(["stream": false]) { $1 }).json()
                #expect((again["choices"] as? [[String: Any]])?.first?["text"] as? String == text)
            }
        }
    }

    @Test func llamaCppRouteAndTokenizerUseTheRealModel() async throws {
        try await withKJV { server in
            let tokens = try await http(server.port, "POST", "/tokenize", json: ["content": "And God said", "add_special": true]).json()
            let ids = try #require(tokens["tokens"] as? [Int])
            #expect(ids.first == 1)
            let text = try await http(server.port, "POST", "/detokenize", json: ["tokens": Array(ids.dropFirst())]).json()
            #expect((text["content"] as? String)?.contains("And God said") == true)

            let completion = try await http(server.port, "POST", "/completion",
                                            json: ["prompt": "And God said", "n_predict": 12, "temperature": 0]).json()
            #expect(completion["tokens_evaluated"] as? Int == ids.count)
            #expect(["limit", "eos", "word"].contains(completion["stop_type"] as? String ?? ""))
            let memory = try await http(server.port, "GET", "/memory").json()
            let model = (memory["models"] as? [[String: Any]])?.first
            #expect(((model?["weights"] as? [String: Any])?["total_bytes"] as? Int ?? 0) > 1_000_000)
        }
    }

    /// Whether `python3` with the `openai` package can run here (`scripts/test` installs it).
    static let openAIClientAvailable = python3Imports("openai")

    @Test(.enabled(if: openAIClientAvailable, "needs python3 with the openai package (pip install openai)"))
    func officialOpenAIClientStreamsFromTheServer() async throws {
        try await withKJV { server in
            let port = server.port
            let (status, output) = try await onThread {
                try runScript("/usr/bin/env", ["python3", repositoryScript("openai-client-check.py"),
                                               "--base-url", "http://127.0.0.1:\(port)/v1", "--model", "kjv-llama-4m"])
            }
            #expect(status == 0, "\(output)")
        }
    }
}
