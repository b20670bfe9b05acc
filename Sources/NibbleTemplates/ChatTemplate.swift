import Foundation

/// A chat template with transformers' `apply_chat_template` calling convention.
public struct ChatTemplate: Sendable {
    public let source: String
    private let template: Template

    public init(_ source: String, limits: TemplateLimits = TemplateLimits()) throws {
        self.source = source
        template = try Template(source, limits: limits)
    }

    /// Renders a conversation.
    ///
    /// - Parameters:
    ///   - messages: OpenAI-shaped message dicts.
    ///   - tools: tool schemas, or nil (the template then sees `tools` as None, as with transformers).
    ///   - specialTokens: `bos_token`, `eos_token`, … as the template sees them.
    ///   - extra: more variables (`chat_template_kwargs`); they cannot replace `messages`.
    ///   - continueFinalMessage: render without a generation prompt and cut after the final message's content,
    ///     so the model continues it (transformers' `continue_final_message`).
    public func render(messages: [Value], tools: Value? = nil, documents: Value? = nil, addGenerationPrompt: Bool = true,
                       continueFinalMessage: Bool = false, specialTokens: [String: String] = [:],
                       extra: [String: Value] = [:], now: @escaping @Sendable () -> Date = { Date() },
                       timeZone: TimeZone = .current) throws -> String {
        var variables: [String: Value] = [:]
        for (k, v) in specialTokens { variables[k] = .string(v) }
        for (k, v) in extra { variables[k] = v }
        variables["messages"] = .list(messages)
        variables["tools"] = tools ?? Value.none
        variables["documents"] = documents ?? Value.none
        variables["add_generation_prompt"] = .bool(addGenerationPrompt && !continueFinalMessage)
        let rendered = try template.render(variables, now: now, timeZone: timeZone)
        guard continueFinalMessage else { return rendered }
        return try Self.cutAfterFinalMessage(rendered, messages)
    }

    /// transformers' continue_final_message: keep the text up to the end of the last message's content.
    static func cutAfterFinalMessage(_ rendered: String, _ messages: [Value]) throws -> String {
        guard case .dict(let last)? = messages.last else {
            throw TemplateError.runtime("continue_final_message needs a final message")
        }
        var final: String?
        switch last["content"] {
        case .string(let s)?: final = s
        case .list(let parts)?:
            for case .dict(let part) in parts.reversed() { if case .string(let t)? = part["text"] { final = t; break } }
        default: break
        }
        guard let final else { throw TemplateError.runtime("continue_final_message is set but there is no text to continue in the final message") }
        let stripped = PythonString.strip(final, nil, leading: true, trailing: true)
        guard let location = rendered.range(of: stripped, options: .backwards) else {
            throw TemplateError.runtime("continue_final_message is set but the final message does not appear in the rendered chat")
        }
        let lstripped = PythonString.strip(final, nil, leading: true, trailing: false)
        let start = rendered.unicodeScalars[..<location.lowerBound].count
        let scalars = Array(rendered.unicodeScalars)
        let whole = start + lstripped.unicodeScalars.count
        if whole <= scalars.count, String(String.UnicodeScalarView(scalars[start..<whole])) == final {
            return String(String.UnicodeScalarView(scalars[..<whole]))
        }
        return String(String.UnicodeScalarView(scalars[..<(start + stripped.unicodeScalars.count)]))
    }
}
