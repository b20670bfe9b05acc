import Foundation
import NibbleEngine
@testable import NibbleServer
import NibbleTestFakes
import Testing

@Suite struct ServerErrorTests {
    func envelope(_ response: HTTPTestResponse) throws -> (code: Int?, type: String?, message: String) {
        let error = try #require(try response.json()["error"] as? [String: Any])
        return (error["code"] as? Int, error["type"] as? String, error["message"] as? String ?? "")
    }

    @Test func requestErrorsUseTheEnvelopeAndStatus() async throws {
        try await withServer(models: ["fake": ScriptedModel(maxContextLength: 32)], configure: { $0.maxBodyBytes = 2048 }) { server in
            let malformed = try await http(server.port, "POST", "/v1/completions", raw: "{\"prompt\": ")
            #expect(malformed.status == 400)
            #expect(try envelope(malformed).type == "invalid_request_error")
            #expect(try envelope(malformed).code == 400)

            let badRange = try await http(server.port, "POST", "/v1/completions", json: ["prompt": "x", "top_p": 2])
            #expect(badRange.status == 400)
            #expect(try envelope(badRange).message.contains("top_p"))
            #expect(try badRange.json()["error"].flatMap { ($0 as? [String: Any])?["param"] as? String } == "top_p")

            let badType = try await http(server.port, "POST", "/v1/chat/completions",
                                         json: ["messages": [["role": "user", "content": "x"]], "temperature": "hot"])
            #expect(badType.status == 400)
            #expect(try envelope(badType).message.contains("temperature"))

            let missing = try await http(server.port, "POST", "/v1/chat/completions", json: ["model": "fake"])
            #expect(missing.status == 400)
            #expect(try envelope(missing).message.contains("messages"))

            let unknown = try await http(server.port, "POST", "/v1/completions", json: ["model": "gpt-5", "prompt": "x"])
            #expect(unknown.status == 404)
            #expect(try envelope(unknown).type == "not_found_error")

            let long = try await http(server.port, "POST", "/v1/completions", json: ["prompt": String(repeating: "a", count: 40)])
            #expect(long.status == 400)
            #expect(try envelope(long).type == "exceed_context_size_error")

            let huge = try await http(server.port, "POST", "/v1/completions", json: ["prompt": String(repeating: "a", count: 5000)])
            #expect(huge.status == 413)
            #expect(try envelope(huge).code == 413)

            let route = try await http(server.port, "GET", "/nope")
            #expect(route.status == 404)
            #expect(try envelope(route).type == "not_found_error")

            // Malformed JSON, a bad range and a too-long prompt; each request is counted once.
            #expect(server.metrics.count(endpoint: "/v1/completions", status: 400) == 3)
            #expect(server.metrics.count(endpoint: "/v1/completions", status: 404) == 1)
            #expect(server.metrics.count(endpoint: "/v1/completions", status: 413) == 1)
        }
    }

    @Test func fullQueueAnswers429WithRetryAfter() async throws {
        let model = ScriptedModel(stepDelay: 0.01)
        try await withServer(models: ["fake": model], configure: {
            $0.limits = SchedulerLimits(maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 2)
        }) { server in
            let port = server.port
            let busy = Task {
                try await http(port, "POST", "/v1/completions", json: ["prompt": "x", "max_tokens": 60, "ignore_eos": true])
            }
            #expect(await eventually { server.scheduler.stats.active == 1 })
            let refused = try await http(server.port, "POST", "/v1/completions", json: ["prompt": "x", "max_tokens": 2])
            #expect(refused.status == 429)
            #expect(refused.headers["retry-after"] == "2")
            #expect(try envelope(refused).code == 429)
            #expect(try await busy.value.status == 200)
        }
    }

    @Test func apiKeysAreRequiredWhenConfigured() async throws {
        try await withServer(models: ["fake": ScriptedModel()], configure: { $0.apiKeys = ["sekret"] }) { server in
            let missing = try await http(server.port, "GET", "/v1/models")
            #expect(missing.status == 401)
            #expect(try envelope(missing).type == "authentication_error")
            let wrong = try await http(server.port, "GET", "/v1/models", headers: ["Authorization": "Bearer nope"])
            #expect(wrong.status == 401)
            let right = try await http(server.port, "GET", "/v1/models", headers: ["Authorization": "Bearer sekret"])
            #expect(right.status == 200)
            #expect(try await http(server.port, "GET", "/health").status == 200)
        }
    }

    @Test func healthIs503WhileLoadingThen200() async throws {
        let models = ["fake": ScriptedModel()]
        let provider = FakeProvider(models, gated: true)
        try await withServer(models: models, gated: provider) { server in
            let loading = try await http(server.port, "GET", "/health")
            #expect(loading.status == 503)
            let object = try loading.json()
            #expect(object["error"] as? [String: Any] as NSDictionary? == ["code": 503, "message": "Loading model", "type": "unavailable_error"] as NSDictionary)
            #expect((object["progress"] as? Double ?? 0) > 0)
            let early = try await http(server.port, "POST", "/v1/completions", json: ["prompt": "x"])
            #expect(early.status == 503)

            provider.release()
            await server.registry.waitUntilSettled()
            let ready = try await http(server.port, "GET", "/health")
            #expect(ready.status == 200)
            #expect(try ready.json() as NSDictionary == ["status": "ok", "models": [["name": "fake", "state": "ok"]]] as NSDictionary)
        }
    }
}
