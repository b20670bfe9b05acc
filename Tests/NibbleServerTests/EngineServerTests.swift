import Foundation
import NibbleEngine
@testable import NibbleServer
import NibbleTestFakes
import Testing

/// The batching engine seen through HTTP: bounded work for oversized requests, cached prompt tokens in the
/// response, and the KV pools in `/memory` and `/metrics`.
@Suite struct EngineServerTests {
    @Test func aPromptFarOverTheContextIsRefusedAfterABoundedPrefix() async throws {
        try await withServer(models: ["fake": ScriptedModel()]) { server in
            // 900 kB: the byte-level fake tokenizer would take long over all of it; only a prefix is encoded.
            let prompt = String(repeating: "a", count: 900_000)
            let response = try await http(server.port, "POST", "/v1/completions", json: ["prompt": prompt, "max_tokens": 4])
            #expect(response.status == 400)
            let message = try #require((try response.json()["error"] as? [String: Any])?["message"] as? String)
            #expect(message.contains("256"), "\(message)")
            #expect(server.scheduler.stats.accepted == 0)
        }
    }

    @Test func aRequestThatCanNeverFitInThePoolIsA400NamingMaxTokens() async throws {
        try await withServer(models: ["fake": ScriptedModel(maxContextLength: 1_000_000_000_000)], configure: {
            $0.limits.kvCache.memory = .bytes(1 << 20)
        }) { server in
            let response = try await http(server.port, "POST", "/v1/completions",
                                          json: ["prompt": "Hello", "max_tokens": 100_000_000])
            #expect(response.status == 400)
            let error = try #require(try response.json()["error"] as? [String: Any])
            #expect(error["param"] as? String == "max_tokens")
            #expect((error["message"] as? String)?.contains("1048576 bytes") == true, "\(error)")
            let small = try await http(server.port, "POST", "/v1/completions",
                                       json: ["prompt": "Hello", "max_tokens": 4, "ignore_eos": true, "temperature": 0])
            #expect(small.status == 200)
        }
    }

    @Test func reusedPromptBlocksAreReportedAsCachedTokens() async throws {
        try await withServer(models: ["fake": ScriptedModel()]) { server in
            let prompt = String(repeating: "Hello world", count: 4)  // 8 word tokens, then bytes below
            let body: [String: Any] = ["prompt": prompt + " the end of it all, told twice", "n_predict": 3,
                                       "temperature": 0, "ignore_eos": true]
            let first = try await http(server.port, "POST", "/completion", json: body)
            let second = try await http(server.port, "POST", "/completion", json: body)
            let firstTimings = try #require(try first.json()["timings"] as? [String: Any])
            let secondTimings = try #require(try second.json()["timings"] as? [String: Any])
            let promptTokens = try #require(try first.json()["tokens_evaluated"] as? Int)
            #expect(promptTokens > 16)
            #expect(firstTimings["cache_n"] as? Int == 0)
            #expect(secondTimings["cache_n"] as? Int == (promptTokens - 1) / 16 * 16)
            #expect(secondTimings["prompt_n"] as? Int == promptTokens - (promptTokens - 1) / 16 * 16)
            #expect(try second.json()["content"] as? String == (try first.json()["content"] as? String))

            let chat = try await http(server.port, "POST", "/v1/completions", json: [
                "prompt": prompt + " the end of it all, told twice", "max_tokens": 2, "temperature": 0])
            let usage = try #require(try chat.json()["usage"] as? [String: Any])
            let details = try #require(usage["prompt_tokens_details"] as? [String: Any])
            #expect(details["cached_tokens"] as? Int == (promptTokens - 1) / 16 * 16)

            let memory = try await http(server.port, "GET", "/memory")
            let kv = try #require(try memory.json()["kv_cache"] as? [String: Any])
            let pools = try #require(kv["pools"] as? [[String: Any]])
            #expect(pools.first?["blocks_in_use"] as? Int == 0)
            #expect((pools.first?["blocks_cached"] as? Int ?? 0) > 0)
            let metrics = try await http(server.port, "GET", "/metrics")
            #expect(metrics.text.contains("nibble_kv_blocks{model=\"fake\",state=\"cached\"}"))
        }
    }
}
