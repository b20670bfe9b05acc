import Foundation
import NibbleTemplates
import NibbleTestSupport
import Testing

/// `nibble chat-template` through the built binary, against transformers' renderings.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: SharedFixtures.reference("chat-templates/chat-templates.json").path),
                "needs NIBBLE_SHARED reference/chat-templates"))
struct ChatTemplateCommandTests {
    /// A scratch directory with the given files.
    static func files(_ contents: [String: Data]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-cli-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, data) in contents { try data.write(to: url.appendingPathComponent(name)) }
        return url
    }

    /// The fixture's conversations as JSON text in their original key order (templates print it with `tojson`).
    static func orderedConversations() throws -> [String: (messages: String, tools: String?)] {
        let text = try String(contentsOf: SharedFixtures.reference("chat-templates/chat-templates.json"), encoding: .utf8)
        guard case .dict(let root) = try TemplateJSON.parse(text), case .dict(let conversations)? = root["conversations"] else {
            throw TemplateError.runtime("fixture")
        }
        var out: [String: (String, String?)] = [:]
        for (name, value) in conversations.pairs {
            guard case .dict(let c) = value, let messages = c["messages"] else { continue }
            out[name] = (try TemplateJSON.serialize(messages), try c["tools"].map(TemplateJSON.serialize))
        }
        return out
    }

    static func reference() throws -> (templates: [[String: Any]], conversations: [String: Any]) {
        let data = try Data(contentsOf: SharedFixtures.reference("chat-templates/chat-templates.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return (try #require(root["templates"] as? [[String: Any]]), try #require(root["conversations"] as? [String: Any]))
    }

    @Test func rendersExactlyWhatTransformersRenders() throws {
        let (templates, conversations) = try Self.reference()
        let ordered = try Self.orderedConversations()
        // Llama 3.1 prints strftime_now's date; SmolLM3 reads a system-prompt flag; Mistral refuses a conversation.
        for name in ["meta-llama-Llama-3.1-8B-Instruct", "HuggingFaceTB-SmolLM3-3B", "mistralai-Mistral-Nemo-Instruct-2407"] {
            let template = try #require(templates.first { $0["name"] as? String == name })
            for c in try #require(template["cases"] as? [[String: Any]]) {
                let conversationName = try #require(c["conversation"] as? String)
                let conversation = try #require(conversations[conversationName] as? [String: Any])
                let json = try #require(ordered[conversationName])
                var files: [String: Data] = [
                    "template.jinja": Data(try #require(template["template"] as? String).utf8),
                    "messages.json": Data(json.messages.utf8),
                ]
                if let tools = json.tools { files["tools.json"] = Data(tools.utf8) }
                let directory = try Self.files(files)
                defer { try? FileManager.default.removeItem(at: directory) }
                var arguments = ["chat-template", "--template", directory.appendingPathComponent("template.jinja").path,
                                 "--messages", directory.appendingPathComponent("messages.json").path,
                                 "--bos-token", "<s>", "--eos-token", "</s>", "--now", "2026-07-26T12:00:00Z"]
                if files["tools.json"] != nil { arguments += ["--tools", directory.appendingPathComponent("tools.json").path] }
                if conversation["add_generation_prompt"] as? Bool == false { arguments.append("--no-generation-prompt") }
                let run = try CommandRunner.nibble(arguments)
                if let expected = c["text"] as? String {
                    #expect(run.status == 0, "\(name) × \(conversationName): \(run.stderr)")
                    #expect(run.stdout == expected, "\(name) × \(conversationName)")
                } else {
                    #expect(run.status == 1, "\(name) × \(conversationName)")
                    #expect(run.stdout.isEmpty)
                    #expect(!run.stderr.isEmpty)
                }
            }
        }
    }

    @Test func modelOptionUsesTheModelsOwnTemplate() throws {
        struct Smol: Decodable {
            struct Case: Decodable { let prompt: String; let messages: [[String: String]]? }
            let cases: [Case]
        }
        let chats = try SharedFixtures.decodeReference(Smol.self, "smollm2/smollm2-135m-instruct-q4_1-fp32.json").cases.filter { $0.messages != nil }
        #expect(!chats.isEmpty)
        for chat in chats {
            let directory = try Self.files(["messages.json": try JSONSerialization.data(withJSONObject: chat.messages ?? [])])
            defer { try? FileManager.default.removeItem(at: directory) }
            let run = try CommandRunner.nibble(["chat-template", "--model", SharedFixtures.model("llama3-rope-tiny").path,
                                                "--messages", directory.appendingPathComponent("messages.json").path])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout == chat.prompt)
        }
    }

    @Test func templateErrorsExitOneWithTheMessage() throws {
        let directory = try Self.files([
            "raise.jinja": Data("{{ raise_exception('only user turns here') }}".utf8),
            "syntax.jinja": Data("{% for m in messages %}".utf8),
            "messages.json": Data(#"[{"role": "user", "content": "hi"}]"#.utf8),
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        for (file, message) in [("raise.jinja", "only user turns here"), ("syntax.jinja", "endfor")] {
            let run = try CommandRunner.nibble(["chat-template", "--template", directory.appendingPathComponent(file).path,
                                                "--messages", directory.appendingPathComponent("messages.json").path])
            #expect(run.status == 1)
            #expect(run.stdout.isEmpty)
            #expect(run.stderr.contains(message), "\(run.stderr)")
        }
    }
}
