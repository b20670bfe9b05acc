@testable import NibbleServer
import NibbleTestSupport
import Testing

/// The `<think>` split, whole and streamed in pieces of every size: both must agree.
@Suite struct ReasoningSplitterTests {
    static let cases: [(text: String, startsInside: Bool, reasoning: String?, content: String)] = [
        ("<think>\nThe user greets me.\n</think>\n\nHello!", false, "The user greets me.", "Hello!"),
        ("  <think>a < b, not </thin>k</think>Done", false, "a < b, not </thin>k", "Done"),
        ("Hello <think>not at the start</think>", false, nil, "Hello <think>not at the start</think>"),
        ("Plain answer.", false, nil, "Plain answer."),
        ("<thi", false, nil, "<thi"),
        ("<think>\ncut off while thinking ", false, "cut off while thinking", ""),
        ("\nopened by the prompt\n</think>\n\nAnswer", true, "opened by the prompt", "Answer"),
        ("<think></think>Empty", false, "", "Empty"),
    ]

    @Test func wholeAndStreamedAgree() {
        var rng = SeededRandom(seed: 5)
        for c in Self.cases {
            let whole = ReasoningSplitter.split(c.text, startsInside: c.startsInside)
            #expect(whole.reasoning == c.reasoning, "\(c.text)")
            #expect(whole.content == c.content, "\(c.text)")
            for size in [1, 2, 3, 5, 0] {
                var splitter = ReasoningSplitter(startsInside: c.startsInside)
                var reasoning = "", content = ""
                var rest = Substring(c.text)
                while !rest.isEmpty {
                    let n = size == 0 ? Int(rng.next() % 7) + 1 : size  // 0: random piece sizes
                    let part = splitter.append(String(rest.prefix(n)))
                    rest = rest.dropFirst(n)
                    reasoning += part.reasoning
                    content += part.content
                }
                let last = splitter.finish()
                #expect(reasoning + last.reasoning == (c.reasoning ?? ""), "\(c.text) in pieces of \(size)")
                #expect(content + last.content == c.content, "\(c.text) in pieces of \(size)")
                #expect(splitter.hasReasoning == (c.reasoning != nil))
            }
        }
    }

    @Test func formatsAreCheckedOnce() throws {
        let qwen = "{{ '<think>' }}"
        #expect(try ReasoningParsing(format: nil, templateSource: qwen, prompt: "x")?.startsInside == false)
        #expect(try ReasoningParsing(format: nil, templateSource: "{{ x }}", prompt: "x") == nil)
        #expect(try ReasoningParsing(format: "none", templateSource: qwen, prompt: "x") == nil)
        #expect(try ReasoningParsing(format: "deepseek", templateSource: nil, prompt: "Assistant: <think>\n")?.startsInside == true)
        #expect(throws: APIError.self) { try ReasoningParsing(format: "hidden", templateSource: qwen, prompt: "x") }
    }
}
