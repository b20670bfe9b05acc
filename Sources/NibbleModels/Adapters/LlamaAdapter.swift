/// A plain LLaMA checkpoint (base model, no chat tuning): chat turns are written as a simple transcript.
public struct LlamaAdapter: ModelAdapter {
    public init() {}

    public var name: String { "llama" }

    /// Base models have no chat format; a transcript with role labels is the least surprising prompt
    /// (`system` and `developer` text first, then `User: …` and `Assistant: …` lines).
    public var chatTemplate: String {
        #"{% for message in messages %}{% if message['role'] in ['system', 'developer'] %}{{ message['content'] + '\n\n' }}"#
            + #"{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + '\n' }}"#
            + #"{% else %}{{ 'User: ' + message['content'] + '\n' }}{% endif %}{% endfor %}"#
            + #"{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"#
    }

    public var defaultStopStrings: [String] { ["\nUser:"] }
}
