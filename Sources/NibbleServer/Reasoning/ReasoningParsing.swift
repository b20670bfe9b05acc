/// How a chat request's reply is split into reasoning and content, checked once from `reasoning_format`.
struct ReasoningParsing: Sendable, Equatable {
    /// The prompt ends inside an open `<think>` block (DeepSeek R1's templates open it for the model).
    var startsInside: Bool

    /// nil when replies are not split: `reasoning_format` "none", or "auto" (the default) with a template that
    /// never mentions `<think>`. "deepseek" always splits.
    init?(format: String?, templateSource: String?, prompt: String) throws(APIError) {
        switch format ?? "auto" {
        case "none":
            return nil
        case "auto":
            guard templateSource?.contains(ReasoningSplitter.open) == true else { return nil }
        case "deepseek":
            break
        case let other:
            throw .invalidParameter(name: "reasoning_format", reason: "'\(other)' is not one of auto, deepseek, none")
        }
        let tail = prompt.reversed().drop { $0.isWhitespace }
        startsInside = String(tail.prefix(ReasoningSplitter.open.count).reversed()) == ReasoningSplitter.open
    }

    /// The splitter for one choice.
    var splitter: ReasoningSplitter { ReasoningSplitter(startsInside: startsInside) }
}
