import Foundation
import NibbleEngine
@testable import NibbleServer
import NibbleTestFakes
import Testing

@Suite struct ServerGenerationTests {
    nonisolated(unsafe) static let sampling: [String: Any] = ["max_tokens": 24, "temperature": 0.9, "top_p": 0.95, "top_k": 40, "seed": 42,
                                          "ignore_eos": true]

    @Test func streamingAndNonStreamingCarryTheSameTextForTheSameSeed() async throws {
        try await withServer(models: ["fake": ScriptedModel()]) { server in
            var body = Self.sampling
            body["prompt"] = "Hello world"
            let whole = try await http(server.port, "POST", "/v1/completions", json: body)
            #expect(whole.status == 200)
            let object = try whole.json()
            let choice = (object["choices"] as? [[String: Any]])?.first
            let text = try #require(choice?["text"] as? String)
            #expect(choice?["finish_reason"] as? String == "length")
            #expect((object["usage"] as? [String: Any])?["completion_tokens"] as? Int == 24)
            #expect(object["object"] as? String == "text_completion")

            body["stream"] = true
            body["stream_options"] = ["include_usage": true]
            let streamed = try await http(server.port, "POST", "/v1/completions", json: body)
            #expect(streamed.status == 200)
            #expect(streamed.headers["content-type"]?.hasPrefix("text/event-stream") == true)
            let parsed = try openAIStreamText(streamed)
            #expect(parsed.text == text)
            #expect(parsed.finish == "length")
            #expect(parsed.usage?["completion_tokens"] as? Int == 24)
            #expect(!text.isEmpty)

            // A different seed gives a different completion.
            body["stream"] = false
            body["seed"] = 7
            let other = try await http(server.port, "POST", "/v1/completions", json: body).json()
            #expect(((other["choices"] as? [[String: Any]])?.first?["text"] as? String) != text)
        }
    }

    @Test func chatUsesTheAdapterTemplateAndStreamsTheSameText() async throws {
        let script = FakeTokenizer.bytes("Hi there") + FakeTokenizer.bytes("\nUser: more")
        try await withServer(models: ["fake": ScriptedModel(script: script)]) { server in
            let body: [String: Any] = ["model": "fake", "messages": [["role": "user", "content": "Hello"]], "max_tokens": 40]
            let whole = try await http(server.port, "POST", "/v1/chat/completions", json: body).json()
            let choice = try #require((whole["choices"] as? [[String: Any]])?.first)
            let message = try #require(choice["message"] as? [String: Any])
            // The llama adapter stops at "\nUser:", which is not part of the reply.
            #expect(message["content"] as? String == "Hi there")
            #expect(message["role"] as? String == "assistant")
            #expect(choice["finish_reason"] as? String == "stop")
            #expect(whole["object"] as? String == "chat.completion")
            // The llama adapter's template, "User: Hello\nAssistant:", with BOS.
            let prompt = FakeTokenizer().encode("User: Hello\nAssistant:", addSpecialTokens: true)
            #expect((whole["usage"] as? [String: Any])?["prompt_tokens"] as? Int == prompt.count)

            var streaming = body
            streaming["stream"] = true
            let streamed = try await http(server.port, "POST", "/v1/chat/completions", json: streaming)
            let parsed = try openAIStreamText(streamed, chat: true)
            #expect(parsed.text == "Hi there")
            #expect(parsed.finish == "stop")
            #expect(parsed.usage == nil)
            let first = try JSONSerialization.jsonObject(with: Data(streamed.sseData[0].utf8)) as? [String: Any]
            #expect(first?["object"] as? String == "chat.completion.chunk")
        }
    }

    @Test func chatRepliesDropTheLeadingWordSpaceButCompletionsKeepIt() async throws {
        let script = [FakeTokenizer.word(" world"), FakeTokenizer.word("!"), 2]
        try await withServer(models: ["fake": ScriptedModel(script: script)]) { server in
            let chat: [String: Any] = ["messages": [["role": "user", "content": "Hello"]], "max_tokens": 8]
            let whole = try await http(server.port, "POST", "/v1/chat/completions", json: chat).json()
            let message = (whole["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
            #expect(message?["content"] as? String == "world!")
            var streaming = chat
            streaming["stream"] = true
            let streamed = try openAIStreamText(try await http(server.port, "POST", "/v1/chat/completions", json: streaming), chat: true)
            #expect(streamed.text == "world!")
            // A completion continues the prompt's text, so the space stays.
            let completion = try await http(server.port, "POST", "/v1/completions", json: ["prompt": "Hello", "max_tokens": 8]).json()
            #expect((completion["choices"] as? [[String: Any]])?.first?["text"] as? String == " world!")
        }
    }

    @Test func llamaCppCompletionReportsStopTypeAndTimings() async throws {
        let script = FakeTokenizer.bytes("abc###def")
        try await withServer(models: ["fake": ScriptedModel(script: script)]) { server in
            let body: [String: Any] = ["prompt": "Hello", "n_predict": 20, "stop": ["###"], "temperature": 0]
            let object = try await http(server.port, "POST", "/completion", json: body).json()
            #expect(object["content"] as? String == "abc")
            #expect(object["stop_type"] as? String == "word")
            #expect(object["stopping_word"] as? String == "###")
            #expect(object["tokens_predicted"] as? Int == 6)
            #expect(object["tokens_evaluated"] as? Int == 2)
            #expect(object["stop"] as? Bool == true)
            let timings = try #require(object["timings"] as? [String: Any])
            #expect(timings["prompt_n"] as? Int == 2)
            #expect(timings["predicted_n"] as? Int == 6)
            #expect(timings["predicted_per_second"] is Double || timings["predicted_per_second"] is Int)

            var streaming = body
            streaming["stream"] = true
            let streamed = try await http(server.port, "POST", "/completion", json: streaming)
            let frames = try streamed.sseData.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            #expect(!streamed.sseData.contains("[DONE]"))
            #expect(frames.dropLast().map { $0["content"] as? String ?? "" }.joined() == "abc")
            #expect(frames.last?["stop"] as? Bool == true)
            #expect(frames.last?["stop_type"] as? String == "word")
            #expect(frames.dropLast().allSatisfy { $0["stop"] as? Bool == false })

            let limited = try await http(server.port, "POST", "/completion", json: ["prompt": "Hello", "n_predict": 2]).json()
            #expect(limited["stop_type"] as? String == "limit")
            #expect(limited["content"] as? String == "ab")
        }
    }

    /// Several prompts on llama.cpp's route: one result each, in order, with its index — whole as a list, streamed
    /// as frames that carry the index.
    @Test func llamaCppSeveralPromptsGiveOneResultEach() async throws {
        let script = FakeTokenizer.bytes("abc###def")
        try await withServer(models: ["fake": ScriptedModel(script: script)]) { server in
            let body: [String: Any] = ["prompt": ["Hello", "Hello world", [1, "Hello", 261]], "n_predict": 20, "stop": ["###"],
                                       "temperature": 0]
            let reply = try await http(server.port, "POST", "/completion", json: body)
            let results = try #require(try JSONSerialization.jsonObject(with: Data(reply.text.utf8)) as? [[String: Any]], "\(reply.text)")
            #expect(results.map { $0["index"] as? Int } == [0, 1, 2])
            #expect(results.map { $0["content"] as? String } == ["abc", "abc", "abc"])
            #expect(results.map { $0["tokens_evaluated"] as? Int } == [2, 3, 3])
            #expect(results.map { $0["prompt"] as? String } == ["Hello", "Hello world", "<s>Hello#"])

            var streaming = body
            streaming["stream"] = true
            let streamed = try await http(server.port, "POST", "/completion", json: streaming)
            let frames = try streamed.sseData.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            for index in 0..<3 {
                let mine = frames.filter { $0["index"] as? Int == index }
                #expect(mine.dropLast().map { $0["content"] as? String ?? "" }.joined() == "abc")
                #expect(mine.last?["stop"] as? Bool == true && mine.filter { $0["stop"] as? Bool == true }.count == 1)
            }
        }
    }

    @Test func tokenizeAndDetokenizeRoundTrip() async throws {
        try await withServer(models: ["fake": ScriptedModel()]) { server in
            let tokens = try await http(server.port, "POST", "/tokenize", json: ["content": "Hello world!", "add_special": true]).json()
            let ids = try #require(tokens["tokens"] as? [Int])
            #expect(ids == [1, FakeTokenizer.word("Hello"), FakeTokenizer.word(" world"), FakeTokenizer.word("!")])
            let text = try await http(server.port, "POST", "/detokenize", json: ["tokens": Array(ids.dropFirst())]).json()
            #expect(text["content"] as? String == "Hello world!")
        }
    }

    @Test func modelsMemoryAndMetricsDescribeTheServer() async throws {
        try await withServer(models: ["fake": ScriptedModel(), "other": ScriptedModel()]) { server in
            // Seeded and without EOS, so exactly 3 tokens are generated on every run.
            _ = try await http(server.port, "POST", "/v1/completions", json: ["prompt": "Hi", "max_tokens": 3, "seed": 5, "ignore_eos": true])
            let models = try await http(server.port, "GET", "/v1/models").json()
            let ids = (models["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids == ["fake", "other"])

            let memory = try await http(server.port, "GET", "/memory").json()
            let process = try #require(memory["process"] as? [String: Any])
            #expect((process["resident_bytes"] as? Int ?? 0) > 0)
            #expect((memory["models"] as? [[String: Any]])?.count == 2)
            #expect((memory["kv_cache"] as? [String: Any])?["bytes_in_use"] as? Int == 0)

            let metrics = try await http(server.port, "GET", "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("nibble_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1"))
            #expect(metrics.text.contains("nibble_generated_tokens_total 3"))
            #expect(metrics.text.contains("# TYPE nibble_queue_depth gauge"))
            #expect(metrics.text.contains("nibble_model_loaded{model=\"other\"} 1"))
        }
    }

    @Test func disconnectingMidStreamCancelsTheGeneration() async throws {
        let model = ScriptedModel(stepDelay: 0.02)
        try await withServer(models: ["fake": model]) { server in
            let port = server.port
            try await onThread {
                let connection = try RawHTTPConnection(port: port)
                let body = try JSONSerialization.data(withJSONObject: [
                    "prompt": "Hello", "max_tokens": 5000, "stream": true, "ignore_eos": true, "temperature": 0,
                ])
                try connection.send(method: "POST", path: "/v1/completions", body: body)
                _ = try connection.read(until: "data: {")
                connection.hangUp()
            }
            #expect(await eventually(within: 1) { server.scheduler.stats.active == 0 })
            #expect(server.scheduler.stats.cancelled == 1)
            let calls = model.forwardCalls
            #expect(calls < 100)
            try await Task.sleep(for: .milliseconds(100))
            #expect(model.forwardCalls == calls)
        }
    }

    @Test(arguments: ["/v1/completions", "/v1/chat/completions", "/completion"])
    func aClientThatClosesItsSocketCancelsItsNonStreamedGeneration(path: String) async throws {
        let model = ScriptedModel(stepDelay: 0.02)
        try await withServer(models: ["fake": model]) { server in
            let port = server.port
            let body: [String: Any] = path.contains("chat")
                ? ["messages": [["role": "user", "content": "Hello"]], "max_tokens": 5000, "ignore_eos": true]
                : ["prompt": "Hello", "max_tokens": 5000, "ignore_eos": true, "temperature": 0]
            let connection = try RawHTTPConnection(port: port)
            try connection.send(method: "POST", path: path, body: try JSONSerialization.data(withJSONObject: body))
            #expect(await eventually(within: 5) { model.forwardCalls > 3 })
            connection.closeSocket()
            #expect(await eventually(within: 5) { server.scheduler.stats.active == 0 })
            #expect(server.scheduler.stats.cancelled == 1)
            let calls = model.forwardCalls
            #expect(calls < 1000)
            try await Task.sleep(for: .milliseconds(100))
            #expect(model.forwardCalls == calls)
        }
    }

    @Test func aQueuedNonStreamedRequestWhoseClientLeftNeverRuns() async throws {
        let model = ScriptedModel(stepDelay: 0.02)
        try await withServer(models: ["fake": model], configure: { $0.limits.maxConcurrent = 1 }) { server in
            let port = server.port
            let body = try JSONSerialization.data(withJSONObject: [
                "prompt": "Hello", "max_tokens": 5000, "ignore_eos": true, "temperature": 0,
            ])
            let running = try RawHTTPConnection(port: port)
            try running.send(method: "POST", path: "/v1/completions", body: body)
            #expect(await eventually(within: 5) { server.scheduler.stats.active == 1 })
            let queued = try RawHTTPConnection(port: port)
            try queued.send(method: "POST", path: "/v1/completions", body: body)
            #expect(await eventually(within: 5) { server.scheduler.stats.queued == 1 })
            queued.closeSocket()
            #expect(await eventually(within: 5) { server.scheduler.stats.queued == 0 })
            running.closeSocket()
            #expect(await eventually(within: 5) { server.scheduler.stats.active == 0 })
            #expect(server.scheduler.stats.cancelled == 2)
        }
    }
}
