import Foundation
import NibbleTemplates
import NibbleTestSupport
import Testing

/// Templates written to hang, exhaust memory or overflow the stack end with a `TemplateError`, and seeded
/// random mutations of the real templates never crash the lexer, parser or interpreter.
@Suite struct HostileTemplateTests {
    static func limited() -> TemplateLimits {
        var limits = TemplateLimits()
        limits.maxOperations = 200_000
        limits.maxOutputBytes = 1 << 20
        return limits
    }

    static let hostile: [(String, String)] = [
        ("nested loops", "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}"),
        ("range too big", "{{ range(10000000)|length }}"),
        ("unbounded recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
        ("string repetition", "{{ 'x' * 100000000 }}"),
        ("doubling", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"),
        ("list doubling", "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}"),
        ("list repetition", "{{ ([1] * 100000000)|length }}"),
        ("replace blow-up", "{% set s = 'a' * 100000 %}{{ s|replace('a', 'b' * 100000)|length }}"),
        ("join blow-up", "{% set s = 'a' * 500000 %}{{ ([s] * 100000)|join|length }}"),
        ("print blow-up", "{% set s = 'a' * 500000 %}{{ [s] * 100000 }}"),
        ("tojson blow-up", "{% set s = 'a' * 500000 %}{{ ([s] * 100000)|tojson|length }}"),
        ("indent blow-up", "{{ ('\\n' * 500000)|indent(10000)|length }}"),
        ("deep nesting", "{% set ns = namespace(x=[]) %}{% for i in range(150) %}{% for j in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{% endfor %}{{ ns.x }}"),
        ("deep parse", "{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}"),
        ("deep blocks", String(repeating: "{% if true %}", count: 3000) + String(repeating: "{% endif %}", count: 3000)),
        ("output size", "{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}"),
        ("center width", "{{ 'x'.center(1000000000) }}"),
        ("integer overflow", "{{ 2 ** 100 }}"),
    ]

    @Test func hostileTemplatesEndWithAnError() {
        for (name, source) in Self.hostile {
            do {
                let text = try Template(source, limits: Self.limited()).render([:])
                Issue.record("\(name): rendered \(text.utf8.count) bytes instead of failing")
            } catch let error as TemplateError {
                #expect(!error.description.isEmpty, "\(name)")
            } catch {
                Issue.record("\(name): \(error) is not a TemplateError")
            }
        }
    }

    @Test func deeplyNestedValuesWithinTheLimitsAreReleasedSafely() throws {
        // 150 000 levels: comparing and releasing recurse once per level, on the render's large stack.
        let source = "{% set ns = namespace(x=[]) %}{% for i in range(150) %}{% for j in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{% endfor %}{{ ns.x == ns.x }}"
        #expect(try Template(source, limits: Self.limited()).render([:]) == "True")
    }

    /// Mutations of the reference templates: cut, duplicated, swapped and deleted spans and random characters
    /// from Jinja's syntax. Each must parse and render, or fail with a `TemplateError`.
    @Test(.enabled(if: ChatTemplateReference.available, "needs NIBBLE_SHARED reference/chat-templates"))
    func mutatedRealTemplatesNeverCrash() throws {
        let cases = try ChatTemplateReference.cases()
        var sources: [String] = []
        for c in cases where !sources.contains(c.template) { sources.append(c.template) }
        let conversations = cases.prefix(7).map(\.conversation)
        let alphabet = Array("{}%#-+~|.,:()[]'\"\\ \n\tabcdefghijklmnopqrstuvwxyz_0123456789=!<>*/").map(String.init)
        var random = SeededRandom(seed: 20_260_726)
        var rendered = 0, failed = 0
        for round in 0..<600 {
            var scalars = Array(sources[round % sources.count].unicodeScalars)
            for _ in 0..<Int.random(in: 1...6, using: &random) where !scalars.isEmpty {
                let a = Int.random(in: 0..<scalars.count, using: &random)
                let b = min(scalars.count, a + Int.random(in: 0...40, using: &random))
                switch Int.random(in: 0..<5, using: &random) {
                case 0: scalars.removeSubrange(a..<b)
                case 1: scalars.insert(contentsOf: Array(scalars[a..<b]), at: Int.random(in: 0...scalars.count, using: &random))
                case 2: scalars.insert(contentsOf: alphabet.randomElement(using: &random)!.unicodeScalars, at: a)
                case 3: scalars[a] = alphabet.randomElement(using: &random)!.unicodeScalars.first!
                default: scalars = Array(scalars[..<a]) + Array(scalars[b...]) + Array(scalars[a..<b])
                }
            }
            let source = String(String.UnicodeScalarView(scalars))
            let conversation = conversations[round % conversations.count]
            guard case .list(let messages)? = conversation["messages"] else { continue }
            do {
                let template = try ChatTemplate(source, limits: Self.limited())
                _ = try template.render(messages: messages, tools: conversation["tools"],
                                        specialTokens: ["bos_token": "<s>", "eos_token": "</s>"])
                rendered += 1
            } catch is TemplateError {
                failed += 1
            }
        }
        // Both outcomes occur, so the mutations reach the interpreter as well as the parser.
        #expect(rendered > 0 && failed > 0)
        print("mutated templates: \(rendered) rendered, \(failed) failed cleanly")
    }

    /// Random token soup (not derived from a template) through the lexer and parser.
    @Test func randomTokenSoupNeverCrashes() {
        let pieces = ["{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "if", "for", "in", "endfor", "endif", "set", "x", "=",
                      "(", ")", "[", "]", "{", "}", "'s'", "\"", "1", "|", "upper", "is", "not", "macro", "call", "endmacro",
                      ".", ",", ":", "~", "*", "**", "raw", "endraw", "else", "elif", "loop", "namespace", "range(3)", " ", "\n"]
        var random = SeededRandom(seed: 7)
        for _ in 0..<3000 {
            let source = (0..<Int.random(in: 1...30, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            do { _ = try Template(source, limits: Self.limited()).render(["x": [1, 2]]) } catch is TemplateError {} catch {
                Issue.record("\(source.debugDescription): \(error)")
            }
        }
    }
}
