/// A plain LLaMA checkpoint (base model, no chat tuning): chat turns are written as a simple transcript.
public struct LlamaAdapter: ModelAdapter {
    public init() {}

    public var name: String { "llama" }

    /// Base models have no chat format; a transcript with role labels is the least surprising prompt.
    public func chatPrompt(_ messages: [ChatMessage]) -> String {
        var prompt = ""
        for message in messages {
            switch message.role {
            case "system": prompt += message.content + "\n\n"
            case "assistant": prompt += "Assistant: " + message.content + "\n"
            default: prompt += "User: " + message.content + "\n"
            }
        }
        return prompt + "Assistant:"
    }

    public var defaultStopStrings: [String] { ["\nUser:"] }
}
