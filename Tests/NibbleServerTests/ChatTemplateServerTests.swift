import Foundation
import NibbleEngine
import NibbleModels
@testable import NibbleServer
import NibbleTemplates
import NibbleTestSupport
import Testing

/// References for chat over real templates: SmolLM2's ChatML prompts and token ids (transformers), and the
/// reference renderings of real templates (`chat-templates.json`).
enum ChatReferences {
    struct SmolCase: Decodable {
        let prompt: String
        let messages: [[String: String]]?
        let input_ids: [Int]
        let greedy_new_ids: [Int]
        let greedy_text: String
    }
    struct Smol: Decodable {
        let chat_template: String
        let cases: [SmolCase]
    }

    static let smolURL = SharedFixtures.reference("smollm2/smollm2-135m-instruct-q4_1-fp32.json")
    static var available: Bool {
        FileManager.default.fileExists(atPath: smolURL.path)
            && FileManager.default.fileExists(atPath: SharedFixtures.model("llama3-rope-tiny").path)
            && FileManager.default.fileExists(atPath: SharedFixtures.reference("chat-templates/chat-templates.json").path)
    }

    static func smolChats() throws -> [SmolCase] {
        try SharedFixtures.decodeReference(Smol.self, "smollm2/smollm2-135m-instruct-q4_1-fp32.json").cases.filter { $0.messages != nil }
    }

    /// A template's source and its rendering of a conversation, from chat-templates.json.
    static func rendering(template name: String, conversation: String) throws -> (source: String, text: String, conversation: [String: Any]) {
        let data = try Data(contentsOf: SharedFixtures.reference("chat-templates/chat-templates.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let templates = try #require(root["templates"] as? [[String: Any]])
        let template = try #require(templates.first { $0["name"] as? String == name })
        let cases = try #require(template["cases"] as? [[String: Any]])
        let text = try #require(cases.first { $0["conversation"] as? String == conversation }?["text"] as? String)
        let conversations = try #require(root["conversations"] as? [String: Any])
        return (try #require(template["template"] as? String), text, try #require(conversations[conversation] as? [String: Any]))
    }
}

/// `/v1/chat/completions` and `/apply-template` over `llama3-rope-tiny`, a real LLaMA checkpoint that carries
/// SmolLM2's tokenizer and ChatML `chat_template.jinja`.
@Suite(.serialized, .enabled(if: ChatReferences.available, "needs NIBBLE_SHARED models/llama3-rope-tiny and reference/smollm2"))
struct ChatTemplateServerTests {
    static let directory = SharedFixtures.model("llama3-rope-tiny")
    /// A template that shows the request's extra variables and refuses a role, to see both reach the client.
    static let probeTemplate = #"{% for m in messages %}{% if m['role'] == 'developer' %}{{ raise_exception('developer messages are not accepted') }}{% endif %}{{ m['role'] }}: {{ m['content'] }}|{% endfor %}{{ style | default('plain') }}"#

    func withModels(_ body: (TestServer) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        var probe = ModelConfiguration(name: "probe", path: Self.directory)
        probe.chatTemplate = ChatTemplateTexts(single: Self.probeTemplate, origin: "test")
        var qwen = ModelConfiguration(name: "qwen-template", path: Self.directory)
        qwen.chatTemplate = ChatTemplateTexts(
            single: try ChatReferences.rendering(template: "Qwen-Qwen2.5-7B-Instruct", conversation: "user").source, origin: "test")
        configuration.models = [ModelConfiguration(name: "smol", path: Self.directory), probe, qwen]
        let registry = ModelRegistry(specs: configuration.modelSpecs)
        try await withServer(configuration: configuration, registry: registry) { server in
            for entry in server.registry.entries {
                guard case .ready = entry.state else {
                    Issue.record("\(entry.spec.name) did not load: \(String(describing: entry.state))")
                    return
                }
            }
            try await body(server)
        }
    }

    @Test func templatedPromptsMatchTransformers() async throws {
        let chats = try ChatReferences.smolChats()
        #expect(chats.count == 3)
        try await withModels { server in
            for chat in chats {
                let messages = chat.messages ?? []
                let applied = try await http(server.port, "POST", "/apply-template", json: ["model": "smol", "messages": messages]).json()
                #expect(applied["prompt"] as? String == chat.prompt)

                // The prompt is tokenized as apply_chat_template does: no second BOS, the template's tokens only.
                let tokens = try await http(server.port, "POST", "/tokenize", json: ["model": "smol", "content": chat.prompt]).json()
                #expect(tokens["tokens"] as? [Int] == chat.input_ids)
                let reply = try await http(server.port, "POST", "/v1/chat/completions",
                                           json: ["model": "smol", "messages": messages, "max_tokens": 2, "temperature": 0]).json()
                let usage = try #require(reply["usage"] as? [String: Any])
                #expect(usage["prompt_tokens"] as? Int == chat.input_ids.count)
            }
        }
    }

    @Test func generationPromptAndContinuation() async throws {
        let chat = try #require(try ChatReferences.smolChats().first)
        let opening = "<|im_start|>assistant\n"
        #expect(chat.prompt.hasSuffix(opening))
        try await withModels { server in
            let messages = chat.messages ?? []
            let closed = try await http(server.port, "POST", "/apply-template",
                                        json: ["model": "smol", "messages": messages, "add_generation_prompt": false]).json()
            #expect(closed["prompt"] as? String == String(chat.prompt.dropLast(opening.count)))

            // An assistant prefill is left open: no end of turn after it, no new assistant turn.
            let prefill = messages + [["role": "assistant", "content": "The tallest"]]
            let open = try await http(server.port, "POST", "/apply-template",
                                      json: ["model": "smol", "messages": prefill, "continue_final_message": true]).json()
            #expect(open["prompt"] as? String == chat.prompt + "The tallest")
            let both = try await http(server.port, "POST", "/v1/chat/completions",
                                      json: ["model": "smol", "messages": prefill, "continue_final_message": true,
                                             "add_generation_prompt": true])
            #expect(both.status == 400)
            #expect(both.text.contains("continue_final_message"))
            let reply = try await http(server.port, "POST", "/v1/chat/completions",
                                       json: ["model": "smol", "messages": prefill, "continue_final_message": true,
                                              "max_tokens": 1, "temperature": 0]).json()
            let tokens = try await http(server.port, "POST", "/tokenize", json: ["model": "smol", "content": chat.prompt + "The tallest"]).json()
            #expect((reply["usage"] as? [String: Any])?["prompt_tokens"] as? Int == (tokens["tokens"] as? [Int])?.count)
        }
    }

    @Test func openAIToolMessagesReachTheTemplateInTransformersShape() async throws {
        // OpenAI sends tool-call arguments as a JSON string; templates receive the object (transformers' shape).
        // The body is written in the fixture's key order, which `tojson` shows.
        let reference = try ChatReferences.rendering(template: "Qwen-Qwen2.5-7B-Instruct", conversation: "tool_call_and_result")
        let fixture = try String(contentsOf: SharedFixtures.reference("chat-templates/chat-templates.json"), encoding: .utf8)
        guard case .dict(let root) = try TemplateJSON.parse(fixture), case .dict(let conversations)? = root["conversations"],
              case .dict(let conversation)? = conversations["tool_call_and_result"], case .list(var messages)? = conversation["messages"],
              let tools = conversation["tools"], case .dict(var assistant) = messages[1],
              case .list(var calls)? = assistant["tool_calls"], case .dict(var call) = calls[0],
              case .dict(var function)? = call["function"], let arguments = function["arguments"] else {
            throw TemplateError.runtime("fixture shape")
        }
        function["arguments"] = .string(try TemplateJSON.serialize(arguments))
        call["function"] = .dict(function)
        calls[0] = .dict(call)
        assistant["tool_calls"] = .list(calls)
        messages[1] = .dict(assistant)
        func body(_ model: String) throws -> String {
            try TemplateJSON.serialize(.dict(OrderedDict([("model", .string(model)), ("messages", .list(messages)), ("tools", tools),
                                                          ("max_tokens", .int(2))])))
        }
        try await withModels { server in
            let applied = try await http(server.port, "POST", "/apply-template", raw: try body("qwen-template")).json()
            #expect(applied["prompt"] as? String == reference.text)

            // Generation renders the same prompt (Qwen's template has its own tool syntax, so nothing is added).
            let tokens = try await http(server.port, "POST", "/tokenize", json: ["model": "qwen-template", "content": reference.text]).json()
            let reply = try await http(server.port, "POST", "/v1/chat/completions", raw: try body("qwen-template"))
            #expect(reply.status == 200, "\(reply.text)")
            #expect((try reply.json()["usage"] as? [String: Any])?["prompt_tokens"] as? Int == (tokens["tokens"] as? [Int])?.count)
        }
    }

    @Test func requestFieldsAndTemplateErrors() async throws {
        try await withModels { server in
            let parts: [[String: Any]] = [["type": "text", "text": "one"], ["type": "text", "text": "two"]]
            let applied = try await http(server.port, "POST", "/apply-template", json: [
                "model": "probe", "messages": [["role": "system", "content": "s"], ["role": "user", "content": parts]],
                "chat_template_kwargs": ["style": "terse"],
            ]).json()
            #expect(applied["prompt"] as? String == "system: s|user: one\ntwo|terse")

            let cases: [(String, [String: Any], String)] = [
                ("template raise", ["model": "probe", "messages": [["role": "developer", "content": "x"]]], "developer messages are not accepted"),
                ("image part", ["model": "smol", "messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "x"]]]]]], "messages[0].content[0].type"),
                ("unknown role", ["model": "smol", "messages": [["role": "wizard", "content": "x"]]], "messages[0].role"),
                ("missing content", ["model": "smol", "messages": [["role": "user"]]], "messages[0].content"),
                ("bad arguments", ["model": "smol", "messages": [["role": "assistant", "content": NSNull(), "tool_calls": [["type": "function", "function": ["name": "f", "arguments": "{oops"]]]]]], "arguments"),
                ("reserved kwarg", ["model": "smol", "messages": [["role": "user", "content": "x"]], "chat_template_kwargs": ["messages": []]], "chat_template_kwargs.messages"),
                ("per-request template", ["model": "smol", "messages": [["role": "user", "content": "x"]], "chat_template": "{{ 1 }}"], "chat_template"),
                ("tool choice", ["model": "smol", "messages": [["role": "user", "content": "x"]], "tool_choice": "auto"], "tool_choice"),
            ]
            for (name, body, mention) in cases {
                for path in ["/v1/chat/completions", "/apply-template"] where !(name == "tool choice" && path == "/apply-template") {
                    let response = try await http(server.port, "POST", path, json: body)
                    #expect(response.status == 400, "\(name) \(path)")
                    #expect(response.text.contains(mention), "\(name) \(path): \(response.text)")
                }
            }
        }
    }
}

/// SmolLM2-135M-Instruct as a GGUF file: the templated greedy replies of transformers, ending at `<|im_end|>`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["NIBBLE_SMOLLM2_GGUF"] != nil && ChatReferences.available,
                             "set NIBBLE_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf"))
struct SmolLM2ChatTests {
    @Test func greedyChatRepliesMatchTransformers() async throws {
        let path = try #require(ProcessInfo.processInfo.environment["NIBBLE_SMOLLM2_GGUF"])
        var configuration = ServerConfiguration()
        configuration.models = [ModelConfiguration(name: "smollm2", path: URL(fileURLWithPath: path))]
        let registry = ModelRegistry(specs: configuration.modelSpecs)
        try await withServer(configuration: configuration, registry: registry) { server in
            for chat in try ChatReferences.smolChats() {
                let reply = try await http(server.port, "POST", "/v1/chat/completions", json: [
                    "model": "smollm2", "messages": chat.messages ?? [], "max_tokens": chat.greedy_new_ids.count, "temperature": 0,
                ]).json()
                #expect((reply["usage"] as? [String: Any])?["prompt_tokens"] as? Int == chat.input_ids.count)
                let choice = try #require((reply["choices"] as? [[String: Any]])?.first)
                let content = (choice["message"] as? [String: Any])?["content"] as? String
                // Token 2 is <|im_end|>: a reply that reaches it stops there, without it in the text.
                if chat.greedy_new_ids.contains(2) {
                    #expect(choice["finish_reason"] as? String == "stop")
                    #expect(content == chat.greedy_text)
                } else {
                    #expect(choice["finish_reason"] as? String == "length")
                    #expect(content == chat.greedy_text)
                }
            }
        }
    }
}
