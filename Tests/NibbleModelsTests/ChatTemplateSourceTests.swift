import Foundation
import NibbleModels
import NibbleTemplates
import NibbleTestSupport
import Testing

/// Where a model's chat template comes from, checked against transformers' renderings (chat-templates.json).
@Suite(.enabled(if: FileManager.default.fileExists(atPath: SharedFixtures.reference("chat-templates/chat-templates.json").path),
                "needs NIBBLE_SHARED reference/chat-templates"))
struct ChatTemplateSourceTests {
    struct Reference {
        let source: String
        let texts: [String: String]
        let conversations: [String: Value]
    }

    static func reference(_ name: String) throws -> Reference {
        let text = try String(contentsOf: SharedFixtures.reference("chat-templates/chat-templates.json"), encoding: .utf8)
        guard case .dict(let root) = try TemplateJSON.parse(text), case .list(let templates)? = root["templates"],
              case .dict(let conversations)? = root["conversations"] else { throw TemplateError.runtime("fixture") }
        for case .dict(let t) in templates where t["name"]?.stringValue == name {
            var texts: [String: String] = [:]
            if case .list(let cases)? = t["cases"] {
                for case .dict(let c) in cases {
                    if let conversation = c["conversation"]?.stringValue, let rendered = c["text"]?.stringValue { texts[conversation] = rendered }
                }
            }
            var all: [String: Value] = [:]
            for (k, v) in conversations.pairs { all[k] = v }
            return Reference(source: t["template"]?.stringValue ?? "", texts: texts, conversations: all)
        }
        throw TemplateError.runtime("no template \(name)")
    }

    static func render(_ template: ModelChatTemplate, _ conversation: Value?) throws -> String {
        guard case .dict(let c)? = conversation, case .list(let messages)? = c["messages"] else { throw TemplateError.runtime("conversation") }
        return try template.render(messages: messages, tools: c["tools"])
    }

    /// A scratch model directory holding only the given files.
    static func directory(_ files: [String: String]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return url
    }

    static func jsonString(_ s: String) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: [s], options: [.fragmentsAllowed]), as: UTF8.self).dropFirst().dropLast().description
    }

    @Test func namedTemplatesInTokenizerConfigPickToolUseWhenToolsAreGiven() throws {
        let toolUse = try Self.reference("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use")
        let standard = try Self.reference("HuggingFaceTB-SmolLM2-135M-Instruct")
        // Special tokens as AddedToken objects, reduced to their content for the template.
        let config = """
        {"bos_token": {"content": "<s>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true},
         "eos_token": "</s>",
         "chat_template": [{"name": "default", "template": \(try Self.jsonString(standard.source))},
                           {"name": "tool_use", "template": \(try Self.jsonString(toolUse.source))}]}
        """
        let directory = try Self.directory(["tokenizer_config.json": config])
        defer { try? FileManager.default.removeItem(at: directory) }
        let template = try #require(try ModelChatTemplate.load(directory: directory))
        #expect(template.templates.map { $0.name } == ["default", "tool_use"])
        #expect(template.specialTokens["bos_token"]?.stringValue == "<s>")
        #expect(!template.tokenizeWithSpecialTokens)
        #expect(try Self.render(template, toolUse.conversations["tools"]) == toolUse.texts["tools"])
        #expect(try Self.render(template, standard.conversations["multi_turn"]) == standard.texts["multi_turn"])
    }

    @Test func jinjaFileWinsOverTokenizerConfigAndConfigurationWinsOverBoth() throws {
        let phi = try Self.reference("microsoft-Phi-3.5-mini-instruct")
        let gemma = try Self.reference("google-gemma-2-2b-it")
        let qwen = try Self.reference("Qwen-Qwen2.5-7B-Instruct")
        let directory = try Self.directory([
            "chat_template.jinja": phi.source,
            "tokenizer_config.json": #"{"bos_token": "<s>", "eos_token": "</s>", "chat_template": \#(try Self.jsonString(gemma.source))}"#,
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let fromFile = try #require(try ModelChatTemplate.load(directory: directory))
        #expect(fromFile.origin.hasSuffix("chat_template.jinja"))
        #expect(try Self.render(fromFile, phi.conversations["system_user"]) == phi.texts["system_user"])

        let configured = try #require(try ModelChatTemplate.load(
            directory: directory, configured: ChatTemplateTexts(single: qwen.source, origin: "configuration")))
        #expect(configured.origin == "configuration")
        #expect(try Self.render(configured, qwen.conversations["tools"]) == qwen.texts["tools"])

        try FileManager.default.removeItem(at: directory.appendingPathComponent("chat_template.jinja"))
        let fromConfig = try #require(try ModelChatTemplate.load(directory: directory))
        #expect(try Self.render(fromConfig, gemma.conversations["multi_turn"]) == gemma.texts["multi_turn"])
    }

    @Test func aBrokenTemplateFailsTheLoadNamingItsOrigin() throws {
        let directory = try Self.directory(["chat_template.jinja": "{% for m in messages %}{{ m.content }"])
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect {
            _ = try ModelChatTemplate.load(directory: directory)
        } throws: { error in
            guard case ModelError.invalidChatTemplate(let origin, _) = error else { return false }
            return origin.hasSuffix("chat_template.jinja")
        }
    }

    @Test func modelsWithoutATemplateUseTheAdapterFormat() throws {
        // kjv-llama-4m brings no template: the llama adapter's transcript applies, tokenized with BOS.
        #expect(try ModelChatTemplate.load(directory: SharedFixtures.model("kjv-llama-4m")) == nil)
        let llama = try ModelChatTemplate(adapter: LlamaAdapter())
        #expect(llama.tokenizeWithSpecialTokens)
        let conversation: [Value] = [["role": "system", "content": "Be kind."], ["role": "user", "content": "Hello"],
                                     ["role": "assistant", "content": "Hi"], ["role": "user", "content": "Bye"]]
        #expect(try llama.render(messages: conversation) == "Be kind.\n\nUser: Hello\nAssistant: Hi\nUser: Bye\nAssistant:")
        #expect(try llama.render(messages: conversation, addGenerationPrompt: false) == "Be kind.\n\nUser: Hello\nAssistant: Hi\nUser: Bye\n")
        let guanaco = try ModelChatTemplate(adapter: GuanacoAdapter())
        #expect(try guanaco.render(messages: Array(conversation.dropFirst())) ==
            GuanacoAdapter.defaultSystem + "\n### Human: Hello\n### Assistant: Hi\n### Human: Bye\n### Assistant:")
        #expect(try guanaco.render(messages: conversation + [["role": "assistant", "content": "See you"]], continueFinalMessage: true)
            == "Be kind.\n### Human: Hello\n### Assistant: Hi\n### Human: Bye\n### Assistant: See you")
        #expect(guanaco.stopStrings == ["###"])
    }

    @Test func aLoadedModelCarriesItsTemplate() throws {
        let loaded = try ModelLoader.load(directory: SharedFixtures.model("llama3-rope-tiny"))
        let template = try #require(loaded.chatTemplate)
        #expect(template.origin.hasSuffix("chat_template.jinja"))
        #expect(template.specialTokens["eos_token"]?.stringValue == "<|im_end|>")
        #expect(loaded.eosTokenIds.contains(2))
        #expect(try loaded.chatFormat().origin == template.origin)
    }
}
