import Foundation
import NibbleTemplates
import NibbleTestSupport
import Testing

/// Real chat templates rendered by transformers (jinja2 sandbox, trim_blocks, lstrip_blocks, its tojson).
enum ChatTemplateReference {
    static let url = SharedFixtures.reference("chat-templates/chat-templates.json")
    static var available: Bool { FileManager.default.fileExists(atPath: url.path) }

    static func load() throws -> OrderedDict {
        let text = try String(contentsOf: url, encoding: .utf8)
        guard case .dict(let root) = try TemplateJSON.parse(text) else { throw TemplateError.runtime("fixture is not an object") }
        return root
    }

    /// The pinned `strftime_now` clock: 2026-07-26 12:00:00, read in UTC.
    static let pinnedDate = Date(timeIntervalSince1970: 1_785_067_200)
    static let utc = TimeZone(identifier: "UTC")!

    struct Case: CustomStringConvertible {
        let template: String
        let templateName: String
        let conversationName: String
        let conversation: OrderedDict
        let expectedText: String?
        let expectedError: String?
        var description: String { "\(templateName) × \(conversationName)" }
    }

    static func cases() throws -> [Case] {
        let root = try load()
        guard case .dict(let conversations)? = root["conversations"], case .list(let templates)? = root["templates"] else { return [] }
        var out: [Case] = []
        for case .dict(let t) in templates {
            guard case .string(let source)? = t["template"], case .string(let name)? = t["name"], case .list(let cases)? = t["cases"] else { continue }
            for case .dict(let c) in cases {
                guard case .string(let convName)? = c["conversation"], case .dict(let conv)? = conversations[convName] else { continue }
                out.append(Case(template: source, templateName: name, conversationName: convName, conversation: conv,
                                expectedText: c["text"]?.stringValue, expectedError: c["error"]?.stringValue))
            }
        }
        return out
    }

    static func render(_ c: Case) throws -> String {
        let template = try ChatTemplate(c.template)
        guard case .list(let messages)? = c.conversation["messages"] else { throw TemplateError.runtime("no messages") }
        var addGenerationPrompt = true
        if case .bool(let b)? = c.conversation["add_generation_prompt"] { addGenerationPrompt = b }
        return try template.render(messages: messages, tools: c.conversation["tools"], addGenerationPrompt: addGenerationPrompt,
                                   specialTokens: ["bos_token": "<s>", "eos_token": "</s>"],
                                   now: { pinnedDate }, timeZone: utc)
    }
}

@Suite("Reference chat templates", .enabled(if: ChatTemplateReference.available, "needs NIBBLE_SHARED reference/chat-templates"))
struct ReferenceTemplateTests {
    @Test("every reference case renders byte for byte, or errors where transformers raised")
    func everyCase() throws {
        let cases = try ChatTemplateReference.cases()
        #expect(cases.count == 105)
        var passed = 0
        for c in cases {
            do {
                let text = try ChatTemplateReference.render(c)
                if let expected = c.expectedText {
                    #expect(text == expected, "\(c)")
                    if text == expected { passed += 1 }
                } else {
                    Issue.record("\(c): expected an error (\(c.expectedError ?? "")), rendered \(text.debugDescription.prefix(200))")
                }
            } catch {
                if c.expectedError != nil { passed += 1 } else { Issue.record("\(c): \(error)") }
            }
        }
        #expect(passed == cases.count)
    }

    /// The `join` filter once printed list items as empty (`['a','b']|join('-')` gave `-`): an absent argument
    /// read as None. Seen in gpt-oss's enum rendering.
    @Test func joinFilterKeepsItems() throws {
        let template = try Template(#"{{ ['a', 'b']|join('-') }}|{{ x|join }}|{{ '"' + x|join('" | "') + '"' }}|{{ missing|default }}"#)
        #expect(try template.render(["x": ["celsius", "fahrenheit"]]) == #"a-b|celsiusfahrenheit|"celsius" | "fahrenheit"|"#)
    }
}
