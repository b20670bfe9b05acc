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

    /// The first system message (or `defaultSystem`), then `\n### Human: …` and `\n### Assistant: …` turns.
    public var chatTemplate: String {
        #"{% set system = messages | selectattr('role', 'in', ['system', 'developer']) | first %}"#
            + #"{{ system['content'] if system is defined else "\#(Self.defaultSystem)" }}"#
            + #"{% for message in messages if message['role'] not in ['system', 'developer'] %}"#
            + #"{{ '\n### ' + ('Assistant' if message['role'] == 'assistant' else 'Human') + ': ' + message['content'] }}"#
            + #"{% endfor %}{% if add_generation_prompt %}{{ '\n### Assistant:' }}{% endif %}"#
    }

    public var defaultStopStrings: [String] { ["###"] }
}
