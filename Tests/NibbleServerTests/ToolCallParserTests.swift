import Foundation
import NibbleGrammar
@testable import NibbleServer
import NibbleTemplates
import NibbleTestSupport
import Testing

/// Tool-call families against the reference chat templates (`../shared/reference/chat-templates`): each
/// template's family is recognised from its text, the calls it renders into an assistant turn parse back into
/// the call that was rendered, and the grammar that forces a call accepts exactly that syntax.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: ToolTemplates.url.path), "needs NIBBLE_SHARED reference/chat-templates"))
struct ToolCallParserTests {
    @Test func familiesAreRecognisedFromTemplateText() throws {
        let expected: [String: ToolCallFamily?] = [
            "HuggingFaceTB-SmolLM2-135M-Instruct": .generic, "CohereForAI-c4ai-command-r-plus-tool_use": .commandR,
            "HuggingFaceTB-SmolLM3-3B": .generic, "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use": .hermes,
            "Qwen-Qwen2.5-7B-Instruct": .hermes, "Qwen-Qwen3-0.6B": .hermes,
            "deepseek-ai-DeepSeek-R1-Distill-Llama-8B": .deepseekR1, "google-gemma-2-2b-it": .generic,
            "ibm-granite-granite-3.3-2B-Instruct": .granite, "meetkai-functionary-medium-v3.2": .functionary,
            "meta-llama-Llama-3.1-8B-Instruct": .llama3, "meta-llama-Llama-3.2-3B-Instruct": .llama3,
            "microsoft-Phi-3.5-mini-instruct": .generic, "mistralai-Mistral-Nemo-Instruct-2407": .mistral,
            "openai-gpt-oss-120b": ToolCallFamily?.none,
        ]
        let templates = try ToolTemplates.load()
        #expect(templates.count == expected.count)
        for template in templates {
            guard let want = expected[template.name] else {
                Issue.record("no expectation for \(template.name)")
                continue
            }
            #expect(ToolCallFamily.detect(templateSource: template.template) == want, "\(template.name)")
        }
    }

    /// Templates that render an assistant's call, with how they take it: arguments as an object (transformers'
    /// shape) or as the JSON string some templates concatenate, and content null or empty.
    static let renderingTemplates: [(name: String, argumentsAsString: Bool, emptyContent: Bool)] = [
        ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", false, false), ("Qwen-Qwen2.5-7B-Instruct", false, false),
        ("Qwen-Qwen3-0.6B", false, true), ("meta-llama-Llama-3.1-8B-Instruct", false, false),
        ("meta-llama-Llama-3.2-3B-Instruct", false, false), ("mistralai-Mistral-Nemo-Instruct-2407", false, false),
        ("meetkai-functionary-medium-v3.2", true, false), ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B", true, false),
    ]

    @Test(arguments: renderingTemplates.map(\.name))
    func renderedCallsParseBackAndMatchTheCallGrammar(name: String) throws {
        let setup = try #require(Self.renderingTemplates.first { $0.name == name })
        let template = try #require(try ToolTemplates.load().first { $0.name == name })
        let chat = try ChatTemplate(template.template)
        let tools = try TemplateJSON.parse(ToolTemplates.tools)
        let user: Value = ["role": "user", "content": "What's the weather in Paris?"]
        let arguments: Value = setup.argumentsAsString ? .string(#"{"city": "Paris"}"#) : ["city": "Paris"]
        let call: Value = ["id": "abcdef123", "type": "function", "function": ["name": "get_weather", "arguments": arguments]]
        let content: Value = setup.emptyContent ? .string("") : .none
        let assistant: Value = ["role": "assistant", "content": content, "tool_calls": [call]]
        let special = ["bos_token": "<s>", "eos_token": "</s>"]
        let prompt = try chat.render(messages: [user], tools: tools, addGenerationPrompt: true, specialTokens: special)
        let whole = try chat.render(messages: [user, assistant], tools: tools, addGenerationPrompt: false, specialTokens: special)
        // The reply is what the second rendering adds after the prompt, up to the end of the turn.
        // (A generation prompt that opens a tag, as DeepSeek's `<think>`, shares the tag's `<` with the call.)
        var shared = prompt.unicodeScalars.commonPrefixCount(with: whole.unicodeScalars)
        if shared > 0, Array(whole.unicodeScalars)[shared - 1] == "<" { shared -= 1 }
        var reply = String(whole.unicodeScalars.dropFirst(shared))
        for end in ["<|im_end|>", "<|eot_id|>", "</s>", "<｜end▁of▁sentence｜>"] {
            if let range = reply.range(of: end) { reply = String(reply[..<range.lowerBound]) }
        }

        // Qwen 3 writes an (empty) reasoning block before the calls; the server splits reasoning off before parsing.
        if reply.hasPrefix("<think>"), let end = reply.range(of: "</think>") {
            reply = String(reply[end.upperBound...].drop { $0.isWhitespace })
        }
        let family = try #require(ToolCallFamily.detect(templateSource: template.template))
        let calling = try ToolCalling(tools: try #require(tools.listValue), choice: .string("required"), parallel: true,
                                      templateSource: template.template)
        let parsed = calling.parse(reply)
        #expect(parsed.calls.count == 1, "\(family): \(reply)")
        #expect(parsed.calls.first?.name == "get_weather")
        let decoded = try parsed.calls.first.map { try JSONSerialization.jsonObject(with: Data($0.arguments.utf8)) } as? [String: String]
        #expect(decoded == ["city": "Paris"], "\(reply)")
        #expect(parsed.content == nil)

        // The forced-call grammar accepts the template's own syntax (Mistral's ids are Nibble's to write).
        let grammar = try calling.callGrammar()
        var matcher = GrammarMatcher(grammar: grammar)
        let text = reply.replacingOccurrences(of: #", "id": "abcdef123""#, with: "")
        #expect(matcher.accept(bytes: Array(text.utf8)) && matcher.canEnd, "\(family) grammar rejects \(text)")

        // Under `auto`, the call starts with the family's trigger, and the grammar the trigger switches on accepts
        // the call from there (so a well-formed call is never cut off by it).
        let auto = try ToolCalling(tools: try #require(tools.listValue), choice: .string("auto"), parallel: true,
                                   templateSource: template.template)
        if let trigger = auto.lazyTrigger {
            let start = try #require(text.range(of: trigger), "\(family): no \(trigger) in \(text)")
            var lazy = GrammarMatcher(grammar: try auto.callGrammar())
            #expect(lazy.accept(bytes: Array(text[start.lowerBound...].utf8)) && lazy.canEnd, "\(family) from \(trigger): \(text)")
        } else {
            #expect(family == .functionary, "\(family) has no trigger")
        }
    }

    @Test func contentBeforeCallsAndNonCallsStayContent() throws {
        let hermes = ToolCallFamily.hermes.parse("Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>")
        #expect(hermes.content == "Let me check.")
        #expect(hermes.calls.map(\.name) == ["a", "b"])
        #expect(hermes.calls.first?.arguments == #"{"x": 1}"#)
        // A malformed call is not lost: the whole reply stays content.
        let broken = ToolCallFamily.hermes.parse("<tool_call>{\"name\": \"a\", \"argu")
        #expect(broken.calls.isEmpty && broken.content == "<tool_call>{\"name\": \"a\", \"argu")
        // Parallel calls, the last cut off by max_tokens: the whole ones are calls, the cut one stays content.
        let cut = ToolCallFamily.hermes.parse("Checking.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"argu")
        #expect(cut.calls.map(\.name) == ["a"])
        #expect(cut.content == "Checking.\n<tool_call>\n{\"name\": \"b\", \"argu")
        // DeepSeek R1 the same way: whole blocks are calls, a cut-off one and the text around stay content.
        let call = { (name: String, body: String) in "<｜tool▁call▁begin｜>function<｜tool▁sep｜>\(name)\n```json\n\(body)\n```<｜tool▁call▁end｜>" }
        let r1 = ToolCallFamily.deepseekR1.parse("Both.<｜tool▁calls▁begin｜>" + call("a", #"{"x": 1}"#) + call("b", "{}") + "<｜tool▁calls▁end｜>")
        #expect(r1.calls.map(\.name) == ["a", "b"] && r1.calls.first?.arguments == #"{"x": 1}"#)
        #expect(r1.content == "Both.")
        let r1Cut = ToolCallFamily.deepseekR1.parse("<｜tool▁calls▁begin｜>" + call("a", "{}") + "<｜tool▁call▁begin｜>function<｜tool▁sep｜>b\n```json\n{\"q\": ")
        #expect(r1Cut.calls.map(\.name) == ["a"])
        #expect(r1Cut.content == "<｜tool▁call▁begin｜>function<｜tool▁sep｜>b\n```json\n{\"q\":")
        let r1Broken = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>a\n```json\n{oops}\n```<｜tool▁call▁end｜>"
        #expect(ToolCallFamily.deepseekR1.parse(r1Broken) == ParsedReply(content: r1Broken, calls: []))
        #expect(ToolCallFamily.llama3.parse("Paris is sunny.").calls.isEmpty)
        let granite = ToolCallFamily.granite.parse(#"<|tool_call|>[{"name": "a", "arguments": {"k": "v"}}, {"name": "b", "arguments": {}}]"#)
        #expect(granite.calls.map(\.name) == ["a", "b"])
        let command = ToolCallFamily.commandR.parse("Action:\n```json\n[\n    {\n        \"tool_name\": \"a\",\n        \"parameters\": {\"q\": 2}\n    }\n]\n```")
        #expect(command.calls.map(\.name) == ["a"] && command.calls.first?.arguments == #"{"q": 2}"#)
        let generic = ToolCallFamily.generic.parse(#"{"tool_calls": [{"name": "a", "arguments": {"q": "x"}}]}"#)
        #expect(generic.calls.map(\.name) == ["a"])
        #expect(ToolCallFamily.generic.parse(#"{"response": "hi"}"#).content == "hi")
        let functionary = ToolCallFamily.functionary.parse("all\nChecking.>>>a\n{\"q\": 1}")
        #expect(functionary.content == "Checking." && functionary.calls.map(\.name) == ["a"])
    }

    @Test func streamingHoldsBackOnlyWhatMayBeACall() throws {
        let tools = try TemplateJSON.parse(ToolTemplates.tools).listValue ?? []
        let hermes = try ToolCalling(tools: tools, choice: nil, parallel: nil, templateSource: "{{ '<tool_call>' }}")
        var stream = ToolReplyStream(tools: hermes)
        var shown = ""
        for piece in ["Sure", ", one moment.", "\n<tool", "_call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Rome\"}}\n</tool_call>"] {
            shown += stream.append(piece)
        }
        #expect(shown == "Sure, one moment.\n")
        let (calls, rest) = stream.finish()
        #expect(calls.map(\.name) == ["get_weather"] && rest.isEmpty)

        var plain = ToolReplyStream(tools: hermes)
        shown = ["It is <b", "right> today."].map { plain.append($0) }.joined()
        #expect(shown + plain.finish().content == "It is <bright> today.")
    }
}

enum ToolTemplates {
    static let url = SharedFixtures.reference("chat-templates/chat-templates.json")

    struct Entry: Decodable {
        var name: String
        var template: String
    }

    struct File: Decodable { var templates: [Entry] }

    static func load() throws -> [Entry] {
        try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).templates
    }

    /// The reference conversations' tool: get_weather(city, unit?).
    static let tools = #"[{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}]"#
}

extension Value {
    var listValue: [Value]? { if case .list(let items) = self { return items } else { return nil } }
}

extension Sequence where Element: Equatable {
    func commonPrefixCount<S: Sequence>(with other: S) -> Int where S.Element == Element {
        var count = 0
        for (a, b) in zip(self, other) {
            guard a == b else { break }
            count += 1
        }
        return count
    }
}
