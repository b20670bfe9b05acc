/// The syntax a model family writes tool calls in, recognised from its chat template (the template renders past
/// calls the way the model was trained to write them).
enum ToolCallFamily: String, Sendable, CaseIterable {
    /// Hermes 2 Pro, Qwen 2.5, Qwen 3: `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`, one block per call.
    case hermes
    /// Llama 3.1 / 3.2: the whole reply is `{"name": …, "parameters": {…}}` (3.1 may lead with `<|python_tag|>`).
    case llama3
    /// Mistral (Nemo, v3 tokenizers): `[TOOL_CALLS][{"name": …, "arguments": {…}, "id": …}, …]`.
    case mistral
    /// IBM Granite 3.x: `<|tool_call|>[{"name": …, "arguments": {…}}, …]`.
    case granite
    /// DeepSeek R1 distills: `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{…}\n```<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>`.
    case deepseekR1
    /// Functionary v3.2: the prompt ends with `>>>`; each part is `RECIPIENT\nBODY`, `all` being text for the user.
    case functionary
    /// Command R+: `Action:\n```json\n[{"tool_name": …, "parameters": {…}}, …]\n```.
    case commandR
    /// A template with no tool-call syntax: the reply is `{"tool_calls": [{"name": …, "arguments": {…}}]}`, as
    /// the tools' description added to the system message asks.
    case generic

    /// The family a template's text writes calls in; `nil` when it uses a syntax Nibble cannot parse.
    static func detect(templateSource: String?) -> ToolCallFamily? {
        guard let text = templateSource else { return .generic }
        if text.contains("<tool_call>") { return .hermes }
        if text.contains("[TOOL_CALLS]") { return .mistral }
        if text.contains("<|tool_call|>") { return .granite }
        if text.contains("tool▁calls▁begin") { return .deepseekR1 }
        if text.contains(">>>") && text.contains("recipient") { return .functionary }
        if text.contains("Action:") && text.contains("tool_name") { return .commandR }
        // OpenAI's harmony format (channels and `to=functions.NAME` recipients).
        if text.contains("<|channel|>") || text.contains("to=functions") { return nil }
        if text.contains("<|start_header_id|>") && text.contains("ipython") { return .llama3 }
        return .generic
    }

    /// The text that opens the calls of a reply, when there is one; text before it is content for the user.
    var callMarker: String? {
        switch self {
        case .hermes: return "<tool_call>"
        case .mistral: return "[TOOL_CALLS]"
        case .granite: return "<|tool_call|>"
        case .deepseekR1: return "<｜tool▁calls▁begin｜>"
        case .commandR: return "Action:"
        case .llama3, .functionary, .generic: return nil
        }
    }

    /// Whether the markers of its calls are special tokens in its tokenizers, so replies must keep special tokens
    /// as text for the parser to see them.
    var markersAreSpecialTokens: Bool {
        switch self {
        case .mistral, .granite, .deepseekR1, .llama3: return true
        case .hermes, .functionary, .commandR, .generic: return false
        }
    }

    /// Whether the tools are described to the model by Nibble (the template has no place for them).
    var describesToolsInSystemMessage: Bool { self == .generic }
}
