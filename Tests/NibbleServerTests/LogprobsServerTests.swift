import Foundation
import NibbleEngine
import NibbleModels
@testable import NibbleServer
import NibbleTestFakes
import NibbleTestSupport
import Testing

private typealias Reference = LogprobsReference

/// Logprobs, echo, prompt forms, n and logit_bias over HTTP, against transformers' SmolLM2 numbers.
@Suite(.serialized, .enabled(if: Reference.available,
                             "needs the SmolLM2 GGUF (run scripts/test or set NIBBLE_SMOLLM2_GGUF) and NIBBLE_SHARED reference/smollm2"))
struct LogprobsServerTests {
    func withSmol(_ body: (TestServer) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.models = [ModelConfiguration(name: "smol", path: RealModelFixtures.smolLM2GGUF!)]
        let registry = ModelRegistry(specs: configuration.modelSpecs)
        try await withServer(configuration: configuration, registry: registry) { server in
            guard case .ready = server.registry.entries.first?.state else {
                Issue.record("SmolLM2 did not load: \(String(describing: server.registry.entries.first?.state))")
                return
            }
            try await body(server)
        }
    }

    func choices(_ object: [String: Any]) throws -> [[String: Any]] { try #require(object["choices"] as? [[String: Any]]) }

    func frames(_ response: HTTPTestResponse) throws -> [[String: Any]] {
        try response.sseData.filter { $0 != "[DONE]" }.map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// What lm-evaluation-harness `local-completions` sends for loglikelihoods, with each prompt form.
    @Test func echoScoresPromptsAsTheHarnessAsks() async throws {
        let reference = try Reference.load()
        try await withSmol { server in
            let forms: [Any] = [reference.loglikelihood.map(\.prompt_ids),
                                reference.loglikelihood.map { $0.context + $0.continuation }]
            for prompt in forms {
                let response = try await http(server.port, "POST", "/v1/completions", json: [
                    "model": "smol", "prompt": prompt, "echo": true, "max_tokens": 0, "logprobs": 1, "temperature": 0])
                #expect(response.status == 200, "\(response.text)")
                let answer = try choices(try response.json())
                #expect(answer.map { $0["index"] as? Int } == [0, 1, 2])
                for (choice, c) in zip(answer, reference.loglikelihood) {
                    #expect(choice["text"] as? String == c.context + c.continuation)
                    #expect(choice["finish_reason"] as? String == "length")
                    let logprobs = try #require(choice["logprobs"] as? [String: Any])
                    let values = try #require(logprobs["token_logprobs"] as? [Any])
                    let top = try #require(logprobs["top_logprobs"] as? [Any])
                    let tokens = try #require(logprobs["tokens"] as? [String])
                    #expect(values.count == c.prompt_ids.count && top.count == values.count && tokens.count == values.count)
                    #expect(values.first is NSNull && top.first is NSNull, "nothing predicts the first token")
                    for (got, expected) in zip(values.dropFirst(), c.token_logprobs.dropFirst()) {
                        #expect(abs((got as? Double ?? 0) - expected!) <= 1e-3, "\(c.context): \(got) vs \(expected!)")
                    }
                    // The harness: continuation = the last tokens; greedy when each is the top alternative.
                    let tail = values.suffix(c.continuation_tokens).compactMap { $0 as? Double }
                    #expect(abs(tail.reduce(0, +) - c.continuation_logprob) <= 1e-3)
                    let greedy = zip(tokens.suffix(c.continuation_tokens), top.suffix(c.continuation_tokens)).allSatisfy { token, alternatives in
                        let dict = alternatives as? [String: Double] ?? [:]
                        return dict.max { $0.value < $1.value }?.key == token
                    }
                    #expect(greedy == c.is_greedy)
                    let offsets = try #require(logprobs["text_offset"] as? [Int])
                    #expect(offsets.first == 0 && offsets == offsets.sorted())
                }
                let usage = try #require(try response.json()["usage"] as? [String: Any])
                #expect(usage["completion_tokens"] as? Int == 0)
                #expect(usage["prompt_tokens"] as? Int == reference.loglikelihood.reduce(0) { $0 + $1.prompt_ids.count })
            }
            // Streamed, the echoed prompt and its scores come in one chunk per choice, then each choice's finish.
            let c = reference.loglikelihood[1]
            let stream = try await http(server.port, "POST", "/v1/completions", json: [
                "model": "smol", "prompt": c.prompt_ids, "echo": true, "max_tokens": 0, "logprobs": 1, "stream": true])
            var text = "", values: [Any] = [], finishes: [String] = []
            for frame in try frames(stream) {
                for choice in try choices(frame) {
                    text += choice["text"] as? String ?? ""
                    values += (choice["logprobs"] as? [String: Any])?["token_logprobs"] as? [Any] ?? []
                    if let finish = choice["finish_reason"] as? String { finishes.append(finish) }
                }
            }
            #expect(text == c.context + c.continuation)
            #expect(finishes == ["length"])
            #expect(values.count == c.prompt_ids.count && values.first is NSNull)
            for (got, expected) in zip(values.dropFirst(), c.token_logprobs.dropFirst()) {
                #expect(abs((got as? Double ?? 0) - expected!) <= 1e-3)
            }
        }
    }

    @Test func generatedTokensCarryLogprobsOnEveryRouteStreamedOrNot() async throws {
        let reference = try Reference.load()
        try await withSmol { server in
            for generation in reference.generation {
                let steps = generation.steps
                for stream in [false, true] {
                    // OpenAI completions: the legacy shape.
                    let body: [String: Any] = ["model": "smol", "prompt": generation.prompt, "max_tokens": steps.count,
                                               "temperature": 0, "logprobs": 5, "ignore_eos": true, "stream": stream]
                    let response = try await http(server.port, "POST", "/v1/completions", json: body)
                    var tokenLogprobs: [Double] = [], tops: [[String: Double]] = [], tokens: [String] = []
                    for object in stream ? try frames(response) : [try response.json()] {
                        for choice in try choices(object) {
                            guard let logprobs = choice["logprobs"] as? [String: Any] else { continue }
                            tokenLogprobs += logprobs["token_logprobs"] as? [Double] ?? []
                            tops += logprobs["top_logprobs"] as? [[String: Double]] ?? []
                            tokens += logprobs["tokens"] as? [String] ?? []
                        }
                    }
                    #expect(tokens == steps.map(\.token), "\(generation.prompt) stream \(stream)")
                    #expect(tokenLogprobs.count == steps.count)
                    for (index, step) in steps.enumerated() where index < tokenLogprobs.count && index < tops.count {
                        #expect(abs(tokenLogprobs[index] - step.logprob) <= 1e-3)
                        for alternative in step.top {
                            #expect(abs((tops[index][alternative.token] ?? 0) - alternative.logprob) <= 1e-3,
                                    "\(step.token): \(alternative.token)")
                        }
                    }

                    // llama.cpp: completion_probabilities.
                    let llama = try await http(server.port, "POST", "/completion", json: [
                        "prompt": generation.prompt, "n_predict": steps.count, "temperature": 0, "n_probs": 5,
                        "ignore_eos": true, "stream": stream])
                    var probabilities: [[String: Any]] = []
                    for object in stream ? try frames(llama) : [try llama.json()] {
                        probabilities += object["completion_probabilities"] as? [[String: Any]] ?? []
                    }
                    #expect(probabilities.map { $0["id"] as? Int } == steps.map(\.token_id), "llama.cpp stream \(stream)")
                    for (entry, step) in zip(probabilities, steps) {
                        #expect(abs((entry["logprob"] as? Double ?? 0) - step.logprob) <= 1e-3)
                        let top = entry["top_logprobs"] as? [[String: Any]] ?? []
                        #expect(top.map { $0["id"] as? Int } == step.top.map(\.token_id))
                        #expect(entry["token"] as? String == step.token)
                        #expect(entry["bytes"] as? [Int] == Array(step.token.utf8).map(Int.init))
                    }
                }
            }
        }
    }

    @Test func chatLogprobsHaveOpenAIsShapeAndStreamTheSame() async throws {
        try await withSmol { server in
            let body: [String: Any] = ["model": "smol", "messages": [["role": "user", "content": "Name a fruit."]],
                                       "max_tokens": 8, "temperature": 0, "logprobs": true, "top_logprobs": 3]
            let whole = try choices(try await http(server.port, "POST", "/v1/chat/completions", json: body).json())
            let content = try #require((whole.first?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            #expect(!content.isEmpty)
            for entry in content {
                let top = try #require(entry["top_logprobs"] as? [[String: Any]])
                #expect(top.count == 3)
                let logprob = try #require(entry["logprob"] as? Double)
                #expect(logprob <= 0 && (top.first?["logprob"] as? Double ?? 0) >= logprob - 1e-9)
                #expect(entry["token"] as? String == top.first?["token"] as? String, "greedy picks the most likely")
                #expect(entry["bytes"] is [Int])
            }
            var streamed: [[String: Any]] = []
            let response = try await http(server.port, "POST", "/v1/chat/completions",
                                          json: body.merging(["stream": true]) { $1 })
            for frame in try frames(response) {
                for choice in try choices(frame) {
                    streamed += (choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]] ?? []
                }
            }
            #expect(streamed.map { $0["token"] as? String } == content.map { $0["token"] as? String })
            #expect(zip(streamed, content).allSatisfy { abs(($0["logprob"] as? Double ?? 1) - ($1["logprob"] as? Double ?? 0)) < 1e-9 })
        }
    }

    @Test func logitBiasBansTheGreedyTokenOnEveryRoute() async throws {
        let step = try Reference.load().generation[0]
        let banned = step.steps[0].token_id, next = step.steps[0].top[1].token_id
        try await withSmol { server in
            let openAI = try await http(server.port, "POST", "/v1/completions", json: [
                "prompt": step.prompt, "max_tokens": 1, "temperature": 0, "logit_bias": ["\(banned)": -100]]).json()
            let text = try choices(openAI).first?["text"] as? String
            #expect(text == step.steps[0].top[1].token)
            let llama = try await http(server.port, "POST", "/completion", json: [
                "prompt": step.prompt, "n_predict": 1, "temperature": 0, "logit_bias": [[banned, false]]]).json()
            #expect(llama["tokens"] as? [Int] == [next])
            // A string bias reaches each of its tokens; the object form takes ids as keys.
            let byText = try await http(server.port, "POST", "/completion", json: [
                "prompt": step.prompt, "n_predict": 1, "temperature": 0, "logit_bias": [[step.steps[0].token, false]]]).json()
            #expect(byText["tokens"] as? [Int] == [next])
            let byObject = try await http(server.port, "POST", "/completion", json: [
                "prompt": step.prompt, "n_predict": 1, "temperature": 0, "logit_bias": ["\(banned)": -1000]]).json()
            #expect(byObject["tokens"] as? [Int] == [next])
            // Chat: banning the greedy first token picks the second alternative, whose reported logprob is raw.
            let chatBody: [String: Any] = ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 1, "temperature": 0,
                                           "logprobs": true, "top_logprobs": 2]
            let chat = try await http(server.port, "POST", "/v1/chat/completions", json: chatBody).json()
            let entry = try #require(((try choices(chat).first?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])?.first)
            let top = try #require(entry["top_logprobs"] as? [[String: Any]])
            let greedyToken = try #require(entry["token"] as? String)
            let ids = try #require(try await http(server.port, "POST", "/tokenize", json: ["content": greedyToken]).json()["tokens"] as? [Int])
            #expect(ids.count == 1)
            let biased = try await http(server.port, "POST", "/v1/chat/completions",
                                        json: chatBody.merging(["logit_bias": ["\(ids[0])": -100]]) { $1 }).json()
            let picked = try #require(((try choices(biased).first?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])?.first)
            #expect(picked["token"] as? String == top[1]["token"] as? String)
            #expect(abs((picked["logprob"] as? Double ?? 0) - (top[1]["logprob"] as? Double ?? 1)) < 1e-9)
        }
    }

    @Test func nChoicesShareThePromptAndSeededRunsRepeat() async throws {
        let reference = try Reference.load()
        // 31 tokens: one whole KV block the siblings can share.
        let prompt = reference.loglikelihood.flatMap(\.prompt_ids) + reference.loglikelihood[0].prompt_ids
        try await withSmol { server in
            let body: [String: Any] = ["model": "smol", "prompt": prompt, "n": 3, "max_tokens": 6, "temperature": 1.0,
                                       "seed": 1234, "ignore_eos": true]
            let first = try await http(server.port, "POST", "/v1/completions", json: body).json()
            let runs = try choices(first)
            #expect(runs.map { $0["index"] as? Int } == [0, 1, 2])
            let texts = runs.map { $0["text"] as? String ?? "" }
            #expect(Set(texts).count > 1, "choices sample with different seeds: \(texts)")
            let usage = try #require(first["usage"] as? [String: Any])
            #expect(usage["prompt_tokens"] as? Int == prompt.count, "the prompt counts once")
            #expect(usage["completion_tokens"] as? Int == 18)
            #expect((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int == 16,
                    "siblings reuse the prompt's whole block")
            let again = try choices(try await http(server.port, "POST", "/v1/completions", json: body).json())
            #expect(again.map { $0["text"] as? String ?? "" } == texts, "a seeded request repeats every choice")
            // Streamed: every chunk names its choice, and each choice's text is the same.
            let stream = try await http(server.port, "POST", "/v1/completions", json: body.merging(["stream": true]) { $1 })
            var streamed = ["", "", ""]
            var finished = 0
            for frame in try frames(stream) {
                for choice in try choices(frame) {
                    let index = try #require(choice["index"] as? Int)
                    streamed[index] += choice["text"] as? String ?? ""
                    if choice["finish_reason"] is String { finished += 1 }
                }
            }
            #expect(streamed == texts)
            #expect(finished == 3)
            // The first choice is the n = 1 request with the same seed.
            let single = try choices(try await http(server.port, "POST", "/v1/completions",
                                                    json: body.merging(["n": 1]) { $1 }).json())
            #expect(single.first?["text"] as? String == texts[0])
            let chat = try await http(server.port, "POST", "/v1/chat/completions", json: [
                "messages": [["role": "user", "content": "Tell me a story."]], "n": 2, "max_tokens": 4, "seed": 7,
                "temperature": 1.0]).json()
            #expect(try choices(chat).map { $0["index"] as? Int } == [0, 1])
        }
    }

    @Test func llamaCppPromptsMayMixTextAndIds() async throws {
        try await withSmol { server in
            let ids = try #require(try await http(server.port, "POST", "/tokenize",
                                                  json: ["content": "My favourite fruit is"]).json()["tokens"] as? [Int])
            let plain = try await http(server.port, "POST", "/completion",
                                       json: ["prompt": "My favourite fruit is", "n_predict": 4, "temperature": 0]).json()
            let head = try #require(try await http(server.port, "POST", "/tokenize",
                                                   json: ["content": "My favourite"]).json()["tokens"] as? [Int])
            let rest = Array(ids.dropFirst(head.count))
            let mixedBody: [Any] = ["My favourite"] + rest.map { $0 as Any }
            let answer = try await http(server.port, "POST", "/completion",
                                        json: ["prompt": mixedBody, "n_predict": 4, "temperature": 0]).json()
            #expect(head + rest == ids)
            #expect(answer["tokens_evaluated"] as? Int == ids.count)
            #expect(answer["content"] as? String == plain["content"] as? String)
            let asIds = try await http(server.port, "POST", "/completion",
                                       json: ["prompt": ids, "n_predict": 4, "temperature": 0]).json()
            #expect(asIds["content"] as? String == plain["content"] as? String)
        }
    }
}

/// The official `openai` Python client reads logprobs, echo, n and logit_bias from the server over the embedded
/// model (`scripts/openai-logprobs-check.py`).
@Suite(.serialized) struct OpenAIClientLogprobsTests {
    @Test(.enabled(if: RealModelServerTests.openAIClientAvailable, "needs python3 with the openai package (pip install openai)"))
    func officialClientReadsLogprobsEchoNAndLogitBias() async throws {
        var configuration = ServerConfiguration()
        configuration.models = [ModelConfiguration(name: "kjv-llama-4m", path: RealModelServerTests.directory)]
        let registry = ModelRegistry(specs: configuration.modelSpecs)
        try await withServer(configuration: configuration, registry: registry) { server in
            let port = server.port
            let (status, output) = try await onThread {
                try runScript("/usr/bin/env", ["python3", repositoryScript("openai-logprobs-check.py"),
                                               "--base-url", "http://127.0.0.1:\(port)/v1", "--model", "kjv-llama-4m"])
            }
            #expect(status == 0, "\(output)")
            #expect(output.contains("all checks passed"), "\(output)")
        }
    }
}
