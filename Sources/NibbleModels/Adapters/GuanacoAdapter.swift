/// Guanaco: LLaMA plus a QLoRA adapter, prompted as `### Human: … ### Assistant:`.
///
/// The adapter is given with `lora` and merged at load, or is already merged into the checkpoint (as
/// `nibble quantize --lora` writes it); either way this type supplies the prompt format and stop strings.
///
/// The template follows the Guanaco/FastChat "zero_shot" convention: turns separated by "\n### ",
/// and generation stops at the next "###", which also covers "### Human:".
public struct GuanacoAdapter: ModelAdapter {
    public init() {}

    public var name: String { "guanaco" }

    /// The system line Guanaco was tuned with, used when the conversation has none.
    public static let defaultSystem =
        "A chat between a curious human and an artificial intelligence assistant. "
        + "The assistant gives helpful, detailed, and polite answers to the human's questions."

    public func chatPrompt(_ messages: [ChatMessage]) -> String {
        let system = messages.first(where: { $0.role == "system" })?.content ?? Self.defaultSystem
        var prompt = system
        for message in messages where message.role != "system" {
            let role = message.role == "assistant" ? "Assistant" : "Human"
            prompt += "\n### \(role): \(message.content)"
        }
        return prompt + "\n### Assistant:"
    }

    public var defaultStopStrings: [String] { ["###"] }
}
