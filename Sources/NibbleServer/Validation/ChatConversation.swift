import Foundation
import NibbleModels
import NibbleTemplates

/// A chat request's conversation and template settings, checked once and shaped the way transformers hands
/// messages to a chat template.
///
/// - `content` is a string (text parts are joined with newlines, as vLLM does for string-content templates);
///   any other part type is refused, naming it.
/// - An assistant's `tool_calls[].function.arguments` arrives as a JSON string (OpenAI) and is passed as the
///   object it encodes (transformers' message shape, which templates `tojson`).
/// - Every other message field (`name`, `tool_call_id`, `reasoning_content`, …) reaches the template as sent.
struct ChatConversation {
    static let roles = ["system", "developer", "user", "assistant", "tool"]
    /// Variables the request sets through its own fields, so `chat_template_kwargs` cannot replace them.
    static let reservedVariables: Set<String> = ["messages", "tools", "documents", "add_generation_prompt"]

    var messages: [Value]
    var tools: Value?
    var addGenerationPrompt: Bool
    var continueFinalMessage: Bool
    var kwargs: [String: Value]

    init(_ dto: ChatCompletionRequestDTO) throws(APIError) {
        if dto.chatTemplate != nil {
            throw .invalidParameter(name: "chat_template", reason: "per-request templates are not accepted; the model's template (or its configured chat_template) is used")
        }
        guard let raw = dto.messages, !raw.isEmpty else {
            throw .invalidParameter(name: "messages", reason: "must be a non-empty list")
        }
        messages = []
        for (index, message) in raw.enumerated() {
            messages.append(try Self.message(message.value, at: "messages[\(index)]"))
        }

        tools = nil
        if let given = dto.tools?.value, !given.isNone {
            guard case .list(let list) = given else { throw .invalidParameter(name: "tools", reason: "must be a list of tools") }
            if !list.isEmpty {
                tools = given
            }
        }
        if let choice = dto.toolChoice?.value, !choice.isNone, choice.stringValue != "none", tools == nil {
            throw .invalidParameter(name: "tool_choice", reason: "needs a non-empty tools list")
        }

        continueFinalMessage = dto.continueFinalMessage ?? false
        if continueFinalMessage && dto.addGenerationPrompt == true {
            throw .invalidParameter(name: "continue_final_message",
                                    reason: "cannot be combined with add_generation_prompt: the final message is continued, not answered")
        }
        addGenerationPrompt = continueFinalMessage ? false : (dto.addGenerationPrompt ?? true)
        if continueFinalMessage, case .dict(let last)? = messages.last, last["content"]?.stringValue == nil {
            throw .invalidParameter(name: "messages[\(messages.count - 1)].content",
                                    reason: "continue_final_message needs text in the final message")
        }

        kwargs = [:]
        for (key, value) in dto.chatTemplateKwargs ?? [:] {
            if Self.reservedVariables.contains(key) {
                throw .invalidParameter(name: "chat_template_kwargs.\(key)", reason: "is set by the request's own field, not by chat_template_kwargs")
            }
            kwargs[key] = value.value
        }
    }

    private static func message(_ value: Value, at path: String) throws(APIError) -> Value {
        guard case .dict(let fields) = value else { throw .invalidParameter(name: path, reason: "must be an object") }
        guard case .string(let role)? = fields["role"] else {
            throw .invalidParameter(name: "\(path).role", reason: "is required (one of \(roles.joined(separator: ", ")))")
        }
        guard roles.contains(role) else {
            throw .invalidParameter(name: "\(path).role", reason: "must be one of \(roles.joined(separator: ", ")), not '\(role)'")
        }
        var out = OrderedDict()
        out["role"] = .string(role)
        let hasToolCalls: Bool
        if let calls = fields["tool_calls"], !calls.isNone {
            guard role == "assistant" else { throw .invalidParameter(name: "\(path).tool_calls", reason: "only assistant messages carry tool calls") }
            hasToolCalls = true
        } else {
            hasToolCalls = false
        }
        switch fields["content"] {
        case .string(let text)?: out["content"] = .string(text)
        case .list(let parts)?: out["content"] = .string(try textParts(parts, at: "\(path).content"))
        case nil, .none?:
            guard hasToolCalls else { throw .invalidParameter(name: "\(path).content", reason: "is required (a string or a list of text parts)") }
            out["content"] = Value.none
        default:
            throw .invalidParameter(name: "\(path).content", reason: "must be a string or a list of text parts")
        }
        for key in fields.keys where key != "role" && key != "content" {
            guard let field = fields[key] else { continue }
            if key == "tool_calls", hasToolCalls {
                out[key] = try toolCalls(field, at: "\(path).tool_calls")
            } else {
                out[key] = field
            }
        }
        return .dict(out)
    }

    private static func textParts(_ parts: [Value], at path: String) throws(APIError) -> String {
        var texts: [String] = []
        for (index, part) in parts.enumerated() {
            guard case .dict(let fields) = part, case .string(let type)? = fields["type"] else {
                throw .invalidParameter(name: "\(path)[\(index)]", reason: "must be an object with a type")
            }
            guard type == "text" else {
                throw .invalidParameter(name: "\(path)[\(index)].type", reason: "'\(type)' parts are not supported; only text parts are")
            }
            guard case .string(let text)? = fields["text"] else {
                throw .invalidParameter(name: "\(path)[\(index)].text", reason: "must be a string")
            }
            texts.append(text)
        }
        return texts.joined(separator: "\n")
    }

    private static func toolCalls(_ value: Value, at path: String) throws(APIError) -> Value {
        guard case .list(let calls) = value else { throw .invalidParameter(name: path, reason: "must be a list") }
        var out: [Value] = []
        for (index, call) in calls.enumerated() {
            guard case .dict(var fields) = call, case .dict(var function)? = fields["function"] else {
                throw .invalidParameter(name: "\(path)[\(index)].function", reason: "is required (an object with name and arguments)")
            }
            guard function["name"]?.stringValue != nil else {
                throw .invalidParameter(name: "\(path)[\(index)].function.name", reason: "must be a string")
            }
            if case .string(let text)? = function["arguments"] {
                do { function["arguments"] = try TemplateJSON.parse(text) } catch {
                    throw .invalidParameter(name: "\(path)[\(index)].function.arguments", reason: "is not valid JSON (\(error))")
                }
            }
            fields["function"] = .dict(function)
            out.append(.dict(fields))
        }
        return .list(out)
    }

    /// Adds a description of the tools to the system message (the first message, made when there is none), for
    /// templates that have no place for tools.
    mutating func describeTools(_ text: String) {
        if case .dict(var first)? = messages.first, first["role"]?.stringValue == "system",
           case .string(let content)? = first["content"] {
            first["content"] = .string(content + "\n\n" + text)
            messages[0] = .dict(first)
        } else {
            var system = OrderedDict()
            system["role"] = .string("system")
            system["content"] = .string(text)
            messages.insert(.dict(system), at: 0)
        }
    }

    /// Renders with the model's chat format; a template error is a 400 carrying the template's message.
    func render(with format: ModelChatTemplate) throws(APIError) -> String {
        do {
            return try format.render(messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt,
                                     continueFinalMessage: continueFinalMessage, kwargs: kwargs)
        } catch {
            throw .invalidParameter(name: "messages", reason: "the chat template failed: \(error)")
        }
    }
}
