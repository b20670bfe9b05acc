import Foundation
import NibbleModels
@testable import NibbleServer
import Testing

/// A model's `chat_template` in config/nibble.yaml: inline text or a file, parsed at start-up.
@Suite struct ChatTemplateConfigurationTests {
    let here = URL(fileURLWithPath: FileManager.default.temporaryDirectory.path)

    @Test func inlineTextAndFilesAreRead() throws {
        let file = here.appendingPathComponent("nibble-chat-\(UUID().uuidString).jinja")
        try "{{ messages[0]['content'] }}".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let yaml = """
        models:
          inline:
            path: \(here.path)
            chat_template: "{% for m in messages %}{{ m['content'] }}{% endfor %}"
          fromfile:
            path: \(here.path)
            chat_template: \(file.lastPathComponent)
        """
        let configuration = try ConfigurationLoader.parse(yaml: yaml, currentDirectory: here, environment: [:])
        let inline = try #require(configuration.models.first { $0.name == "inline" }?.chatTemplate)
        #expect(inline.named.first?.text == "{% for m in messages %}{{ m['content'] }}{% endfor %}")
        let fromFile = try #require(configuration.models.first { $0.name == "fromfile" }?.chatTemplate)
        #expect(fromFile.named.first?.text == "{{ messages[0]['content'] }}")
        #expect(fromFile.origin == file.path)
        #expect(configuration.models.first { $0.name == "fromfile" }?.spec.options.chatTemplate == fromFile)
    }

    @Test func brokenOrMissingTemplatesAreStartUpErrorsNamingTheKey() {
        for value in ["\"{% if %}\"", "no-such-template.jinja"] {
            let yaml = "models:\n  m:\n    path: \(here.path)\n    chat_template: \(value)\n"
            #expect {
                _ = try ConfigurationLoader.parse(yaml: yaml, currentDirectory: here, environment: [:])
            } throws: { error in
                (error as? ConfigurationError)?.key == "models.m.chat_template"
            }
        }
    }
}
