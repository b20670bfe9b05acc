import Foundation
import NibbleEngine
@testable import NibbleServer
import NibbleTestFakes
import Testing

/// `/v1/models`, `/v1/models/{id}`, `/props`, aliases, the routes without `/v1` and the context-overflow details.
@Suite struct ModelInfoTests {
    @Test func aliasesReachTheSameModelAndAreListed() async throws {
        try await withServer(models: ["fake": ScriptedModel(), "other": ScriptedModel()],
                             configure: { $0.models[0].aliases = ["gpt-3.5-turbo", "acme/fake"] }) { server in
            let list = try await http(server.port, "GET", "/v1/models")
            let data = try #require(try list.json()["data"] as? [[String: Any]])
            #expect(data.map { $0["id"] as? String } == ["fake", "other"])
            #expect(data[0]["aliases"] as? [String] == ["gpt-3.5-turbo", "acme/fake"])

            for path in ["/v1/models/fake", "/models/fake", "/v1/models/gpt-3.5-turbo", "/v1/models/acme/fake"] {
                let one = try await http(server.port, "GET", path)
                #expect(one.status == 200, "\(path)")
                #expect(try one.json()["id"] as? String == "fake", "\(path)")
                #expect(try one.json()["object"] as? String == "model", "\(path)")
            }
            let missing = try await http(server.port, "GET", "/v1/models/gpt-5")
            #expect(missing.status == 404)
            #expect((try missing.json()["error"] as? [String: Any])?["message"] as? String == "The model 'gpt-5' does not exist")

            // A request by alias runs on the model and reports its name; stats count it under the model's name.
            let byAlias = try await http(server.port, "POST", "/v1/completions",
                                         json: ["model": "gpt-3.5-turbo", "prompt": "Hello", "max_tokens": 3])
            #expect(byAlias.status == 200)
            #expect(try byAlias.json()["model"] as? String == "fake")
        }
    }

    @Test func routesWithoutV1AnswerLikeTheirV1Twins() async throws {
        try await withServer(models: ["fake": ScriptedModel()]) { server in
            for (path, body) in [("completions", ["prompt": "Hello", "max_tokens": 3, "temperature": 0] as [String: Any]),
                                 ("chat/completions", ["messages": [["role": "user", "content": "Hi"]], "max_tokens": 3,
                                                       "temperature": 0])] {
                let plain = try await http(server.port, "POST", "/" + path, json: body)
                let versioned = try await http(server.port, "POST", "/v1/" + path, json: body)
                #expect(plain.status == 200, "\(path)")
                let a = try plain.json(), b = try versioned.json()
                #expect(a["object"] as? String == b["object"] as? String, "\(path)")
                let choicesA = try #require(a["choices"] as? [[String: Any]]), choicesB = try #require(b["choices"] as? [[String: Any]])
                #expect(choicesA.count == 1)
                #expect(NSDictionary(dictionary: choicesA[0]).isEqual(to: choicesB[0]), "\(path)")
            }
        }
    }

    @Test func propsShowTheModelContextTemplateAndDefaults() async throws {
        try await withServer(models: ["fake": ScriptedModel(maxContextLength: 64)], configure: {
            $0.models[0].defaults.temperature = 0.25
            $0.models[0].defaults.maxTokens = 7
            $0.limits.maxConcurrent = 3
        }) { server in
            let props = try await http(server.port, "GET", "/props")
            #expect(props.status == 200)
            let body = try props.json()
            #expect(body["model"] as? String == "fake")
            #expect(body["n_ctx"] as? Int == 64)
            #expect(body["total_slots"] as? Int == 3)
            let settings = try #require(body["default_generation_settings"] as? [String: Any])
            #expect(settings["n_ctx"] as? Int == 64)
            let params = try #require(settings["params"] as? [String: Any])
            #expect(params["temperature"] as? Double == 0.25)
            #expect(params["n_predict"] as? Int == 7)
            let unknown = try await http(server.port, "GET", "/props?model=nope")
            #expect(unknown.status == 404)
        }
    }

    @Test func aPromptOverTheContextCarriesItsSizeAndTheContext() async throws {
        try await withServer(models: ["fake": ScriptedModel(maxContextLength: 32)]) { server in
            let long = try await http(server.port, "POST", "/v1/completions", json: ["prompt": Array(repeating: 5, count: 40)])
            #expect(long.status == 400)
            let error = try #require(try long.json()["error"] as? [String: Any])
            #expect(error["type"] as? String == "exceed_context_size_error")
            #expect(error["n_prompt_tokens"] as? Int == 40)
            #expect(error["n_ctx"] as? Int == 32)
        }
    }

    /// lm-evaluation-harness's remote tokenizer speaks vLLM's shapes: `/tokenizer_info`, `/tokenize` with `prompt`
    /// and `add_special_tokens`, `/detokenize` answering `prompt`.
    @Test func vllmTokenizerShapesAreServedBesideLlamaCpps() async throws {
        try await withServer(models: ["fake": ScriptedModel(maxContextLength: 64)]) { server in
            let info = try await http(server.port, "GET", "/tokenizer_info").json()
            #expect(info["model_max_length"] as? Int == 64)
            let llama = try await http(server.port, "POST", "/tokenize", json: ["content": "Hello world"]).json()
            let vllm = try await http(server.port, "POST", "/tokenize",
                                      json: ["prompt": "Hello world", "add_special_tokens": false]).json()
            let tokens = try #require(llama["tokens"] as? [Int])
            #expect(!tokens.isEmpty)
            #expect(vllm["tokens"] as? [Int] == tokens)
            #expect(vllm["count"] as? Int == tokens.count)
            let text = try await http(server.port, "POST", "/detokenize", json: ["tokens": tokens]).json()
            #expect(text["prompt"] as? String == text["content"] as? String)
            #expect((text["content"] as? String)?.contains("Hello") == true)
            let both = try await http(server.port, "POST", "/tokenize", json: ["prompt": "a", "content": "b"])
            #expect(both.status == 400)
        }
    }
}
