import Foundation
import NibbleTemplates

/// How a model writes a conversation into its prompt: its parsed chat template(s), the special tokens the
/// template sees, and how the rendered text is tokenized and where replies end.
public struct ModelChatTemplate: Sendable {
    /// Where the template came from (a file path, `configuration`, or `the guanaco adapter`).
    public let origin: String
    /// Parsed templates by name, in the order the source listed them.
    public let templates: [(name: String, template: ChatTemplate)]
    /// Variables every render sees: `bos_token`, `eos_token`, … (strings) and `additional_special_tokens`.
    public let specialTokens: [String: Value]
    /// Whether the rendered prompt is tokenized with the tokenizer's own special tokens (BOS). A model's template
    /// writes them itself, so it is tokenized without (transformers' `apply_chat_template`); the adapters'
    /// formats predate templates and rely on the tokenizer's BOS.
    public let tokenizeWithSpecialTokens: Bool
    /// Strings that end a reply in this format, beyond the EOS tokens (the adapters' formats only).
    public let stopStrings: [String]

    /// Parses template text read from a source; a syntax error names the origin and template.
    public init(_ texts: ChatTemplateTexts, specialTokens: [String: Value]) throws {
        var parsed: [(name: String, template: ChatTemplate)] = []
        for (name, text) in texts.named {
            do { parsed.append((name, try ChatTemplate(text))) } catch {
                let which = texts.named.count > 1 ? " (template '\(name)')" : ""
                throw ModelError.invalidChatTemplate(origin: texts.origin + which, reason: "\(error)")
            }
        }
        origin = texts.origin
        templates = parsed
        self.specialTokens = specialTokens
        tokenizeWithSpecialTokens = false
        stopStrings = []
    }

    /// The adapter's built-in format, for checkpoints that bring no template.
    public init(adapter: any ModelAdapter) throws {
        origin = "the \(adapter.name) adapter"
        templates = [("default", try ChatTemplate(adapter.chatTemplate))]
        specialTokens = [:]
        tokenizeWithSpecialTokens = true
        stopStrings = adapter.defaultStopStrings
    }

    /// The first source that has a template, or nil when none has.
    public static func load(sources: [ChatTemplateSource], specialTokens: [String: Value]) throws -> ModelChatTemplate? {
        for source in sources {
            if let texts = try source.read() { return try ModelChatTemplate(texts, specialTokens: specialTokens) }
        }
        return nil
    }

    /// The model directory's own template (after an operator override), with its special tokens.
    public static func load(directory: URL, configured: ChatTemplateTexts? = nil) throws -> ModelChatTemplate? {
        try load(sources: ChatTemplateSource.standard(directory: directory, configured: configured),
                 specialTokens: try ChatTemplateSpecialTokens.load(directory: directory))
    }

    /// The template transformers would pick: `tool_use` when tools are given and it exists, else `default`.
    public func template(withTools: Bool) throws -> ChatTemplate {
        if templates.count == 1 { return templates[0].template }
        if withTools, let toolUse = templates.first(where: { $0.name == "tool_use" }) { return toolUse.template }
        if let standard = templates.first(where: { $0.name == "default" }) { return standard.template }
        throw TemplateError.runtime(
            "the model has several chat templates (\(templates.map { $0.name }.joined(separator: ", "))) and none is named 'default'")
    }

    /// Renders a conversation into prompt text.
    ///
    /// - Parameters:
    ///   - messages: message objects as transformers passes them (`role`, `content`, `tool_calls`, …).
    ///   - tools: tool schemas, or nil.
    ///   - kwargs: more template variables (`chat_template_kwargs`); they may replace special tokens.
    ///   - continueFinalMessage: leave the final message open for the model to continue.
    public func render(messages: [Value], tools: Value? = nil, addGenerationPrompt: Bool = true,
                       continueFinalMessage: Bool = false, kwargs: [String: Value] = [:],
                       now: @escaping @Sendable () -> Date = { Date() }, timeZone: TimeZone = .current) throws -> String {
        var extra = specialTokens
        for (key, value) in kwargs { extra[key] = value }
        return try template(withTools: tools != nil).render(
            messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt,
            continueFinalMessage: continueFinalMessage, extra: extra, now: now, timeZone: timeZone)
    }
}
