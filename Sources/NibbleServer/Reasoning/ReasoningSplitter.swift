/// Splits a chat reply into its reasoning — the `<think>…</think>` block Qwen3, DeepSeek R1 and SmolLM3 write
/// first — and the content after it, as pieces of text arrive (llama.cpp's `reasoning_format` "deepseek").
///
/// Text that could still be the start of a tag is held back until it is known; a reply that does not open with
/// `<think>` is all content. A reply cut off inside its reasoning (no `</think>`) is all reasoning. Whitespace
/// around the reasoning and right after `</think>` is dropped (held back until the next text shows it is not
/// at the end).
struct ReasoningSplitter: Sendable {
    static let open = "<think>", close = "</think>"

    private enum Phase: Sendable { case start, thinking, content }
    private var phase: Phase
    /// Text not yet released: leading whitespace, or what may be the beginning of a tag.
    private var held = ""
    /// Whether whitespace just after a tag is still being dropped.
    private var trimming = false
    /// Whether the reply has a reasoning block (opened by the prompt or by the reply).
    private(set) var hasReasoning = false

    /// - Parameter startsInside: the prompt already opened the block (a template whose generation prompt ends
    ///   with `<think>`), so the reply starts as reasoning.
    init(startsInside: Bool) {
        phase = startsInside ? .thinking : .start
        trimming = startsInside
        hasReasoning = startsInside
    }

    /// Feeds the next piece; returns the reasoning and the content it releases (either may be empty).
    mutating func append(_ piece: String) -> (reasoning: String, content: String) {
        held += piece
        var reasoning = "", content = ""
        while true {
            if trimming {
                held = String(held.drop { $0.isWhitespace })
                if held.isEmpty { break }
                trimming = false
            }
            switch phase {
            case .start:
                let text = held.drop { $0.isWhitespace }
                if text.hasPrefix(Self.open) {
                    held = String(text.dropFirst(Self.open.count))
                    phase = .thinking
                    trimming = true
                    hasReasoning = true
                    continue
                }
                // Still possibly the opening tag (or only whitespace so far): wait for more.
                if Self.open.hasPrefix(text) { return (reasoning, content) }
                phase = .content
            case .thinking:
                if let end = held.range(of: Self.close) {
                    reasoning += Self.droppingTrailingWhitespace(held[..<end.lowerBound])
                    held = String(held[end.upperBound...])
                    phase = .content
                    trimming = true
                    continue
                }
                let tag = Self.partialTagLength(at: held, of: Self.close)
                let keep = tag + held.dropLast(tag).reversed().prefix { $0.isWhitespace }.count
                reasoning += held.dropLast(keep)
                held = String(held.suffix(keep))
                return (reasoning, content)
            case .content:
                content += held
                held = ""
                return (reasoning, content)
            }
        }
        return (reasoning, content)
    }

    /// The text still held at the end of the reply.
    mutating func finish() -> (reasoning: String, content: String) {
        defer { held = "" }
        if phase == .thinking { return (Self.droppingTrailingWhitespace(Substring(held)), "") }
        return ("", trimming ? "" : held)
    }

    private static func droppingTrailingWhitespace(_ text: Substring) -> String {
        String(text.reversed().drop { $0.isWhitespace }.reversed())
    }

    /// Characters at the end of `text` that begin `tag` (the longest such suffix shorter than the tag).
    private static func partialTagLength(at text: String, of tag: String) -> Int {
        for length in stride(from: min(tag.count - 1, text.count), through: 1, by: -1)
        where tag.hasPrefix(text.suffix(length)) {
            return length
        }
        return 0
    }

    /// A whole reply split at once.
    static func split(_ text: String, startsInside: Bool) -> (reasoning: String?, content: String) {
        var splitter = ReasoningSplitter(startsInside: startsInside)
        let first = splitter.append(text), last = splitter.finish()
        let reasoning = first.reasoning + last.reasoning
        return (splitter.hasReasoning ? reasoning : nil, first.content + last.content)
    }
}
