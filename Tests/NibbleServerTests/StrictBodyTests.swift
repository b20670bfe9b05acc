import Foundation
@testable import NibbleServer
import NibbleTestFakes
import Testing

/// A field an endpoint does not honour is a 400 naming it, never a 200 that quietly ignores it.
@Suite struct StrictBodyTests {
    func message(_ response: HTTPTestResponse) throws -> String {
        let error = try #require(try response.json()["error"] as? [String: Any])
        return error["message"] as? String ?? ""
    }

    @Test func unhonouredFieldsAreRefusedByName() async throws {
        try await withServer(models: ["fake": ScriptedModel(script: [FakeTokenizer.firstWord])]) { server in
            let cases: [(String, [String: Any], String)] = [
                ("/v1/completions", ["prompt": "x", "max_tokens": 1, "best_of": 3], "best_of"),
                ("/v1/completions", ["prompt": "x", "max_tokens": 1, "top_logprobs": 2], "top_logprobs"),
                ("/v1/completions", ["prompt": "x", "max_tokens": 1, "suffix": "!"], "suffix"),
                ("/v1/chat/completions", ["messages": [["role": "user", "content": "x"]], "max_tokens": 1,
                                          "echo": true], "echo"),
                ("/completion", ["prompt": "x", "n_predict": 1, "n": 2], "n"),
                ("/completion", ["prompt": "x", "n_predict": 1, "response_format": ["type": "json_object"]], "response_format"),
                ("/completion", ["prompt": "x", "n_predict": 1, "mirostat": 2], "mirostat"),
                ("/tokenize", ["content": "x", "typo_field": 1], "typo_field"),
            ]
            for (route, body, field) in cases {
                let response = try await http(server.port, "POST", route, json: body)
                let text = try message(response)
                #expect(response.status == 400, "\(route) \(field)")
                #expect(text.contains(field), "\(route): \(text)")
            }
        }
    }

    @Test func bookkeepingFieldsAndUnsetFeaturesAreAccepted() async throws {
        try await withServer(models: ["fake": ScriptedModel(script: [FakeTokenizer.firstWord])]) { server in
            let completion = try await http(server.port, "POST", "/v1/completions",
                                            json: ["prompt": "x", "max_tokens": 1, "user": "u-1", "metadata": ["k": "v"],
                                                   "logprobs": NSNull(), "echo": false])
            #expect(completion.status == 200)
            let chat = try await http(server.port, "POST", "/v1/chat/completions",
                                      json: ["messages": [["role": "user", "content": "x"]], "max_tokens": 1, "logprobs": false,
                                             "parallel_tool_calls": true, "store": false])
            #expect(chat.status == 200)
            let llama = try await http(server.port, "POST", "/completion",
                                       json: ["prompt": "x", "n_predict": 1, "cache_prompt": true, "id_slot": -1])
            #expect(llama.status == 200)
        }
    }
}
