import Foundation
import NibbleGrammar
import NibbleTemplates

/// A chat request's tools, checked once: the functions, which the model may or must call, and in what syntax.
struct ToolCalling: Sendable {
    struct Function: Sendable {
        var name: String
        /// The `parameters` schema (an empty object schema when the tool has none).
        var parameters: JSONSchemaValue
    }

    enum Choice: Equatable, Sendable {
        /// The model decides; replies are parsed for calls.
        case auto
        /// Tools are shown to the template but replies are never parsed into calls.
        case none
        /// The reply is one or more calls (decoding is constrained to them).
        case required
        /// The reply is a call of this function (decoding is constrained to it).
        case function(String)
    }

    var functions: [Function]
    var choice: Choice
    /// Whether one reply may hold several calls (`parallel_tool_calls`, default true).
    var parallel: Bool
    var family: ToolCallFamily

    /// - Parameters:
    ///   - tools: the request's `tools` (a non-empty list, already known to be present).
    ///   - templateSource: the chat template's text (nil for the adapters' built-in formats).
    init(tools: [Value], choice: Value?, parallel: Bool?, templateSource: String?) throws(APIError) {
        functions = []
        for (index, tool) in tools.enumerated() {
            let path = "tools[\(index)]"
            guard case .dict(let fields) = tool else { throw .invalidParameter(name: path, reason: "must be an object") }
            if let type = fields["type"], type.stringValue != "function" {
                throw .invalidParameter(name: "\(path).type", reason: "only \"function\" tools are supported")
            }
            guard case .dict(let function)? = fields["function"] else {
                throw .invalidParameter(name: "\(path).function", reason: "is required: an object with name and parameters")
            }
            guard case .string(let name)? = function["name"], !name.isEmpty, name.count <= 64,
                  name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") })
            else {
                throw .invalidParameter(name: "\(path).function.name", reason: "must be 1 to 64 letters, digits, underscores or dashes")
            }
            if functions.contains(where: { $0.name == name }) {
                throw .invalidParameter(name: "\(path).function.name", reason: "\"\(name)\" is defined twice")
            }
            var parameters = JSONSchemaValue.object([("type", .string("object")), ("properties", .object([]))])
            if let given = function["parameters"], !given.isNone {
                guard case .dict = given, let text = try? TemplateJSON.serialize(given),
                      let schema = try? JSONSchemaValue.parse(text) else {
                    throw .invalidParameter(name: "\(path).function.parameters", reason: "must be a JSON Schema object")
                }
                parameters = schema
            }
            functions.append(Function(name: name, parameters: parameters))
        }

        switch choice.flatMap({ $0.isNone ? nil : $0 }) {
        case nil, .string("auto")?: self.choice = .auto
        case .string("none")?: self.choice = .none
        case .string("required")?: self.choice = .required
        case .dict(let fields)?:
            guard fields["type"]?.stringValue == "function", case .dict(let function)? = fields["function"],
                  case .string(let name)? = function["name"] else {
                throw .invalidParameter(name: "tool_choice", reason: "must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}")
            }
            guard functions.contains(where: { $0.name == name }) else {
                throw .invalidParameter(name: "tool_choice.function.name", reason: "\"\(name)\" is not one of the request's tools")
            }
            self.choice = .function(name)
        default:
            throw .invalidParameter(name: "tool_choice", reason: "must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}")
        }
        self.parallel = parallel ?? true

        guard let family = ToolCallFamily.detect(templateSource: templateSource) else {
            throw .invalidParameter(name: "tools", reason: "the model's chat template writes tool calls in a format Nibble does not parse (harmony channels)")
        }
        self.family = family
    }

    /// Whether replies are parsed into `tool_calls`.
    var parsesReplies: Bool { choice != .none }

    /// Whether decoding is constrained to calls.
    var constrainsDecoding: Bool {
        switch choice {
        case .required, .function: return true
        case .auto, .none: return false
        }
    }

    /// Under `auto`, the text that starts a call in this family's syntax: from it on, decoding is held to the
    /// call grammar (llama.cpp's lazy grammars do the same). A marker where the family has one; for replies that
    /// are a bare JSON object, its opening up to the first key (`{"name"` for Llama 3, `{"tool_calls"` for the
    /// generic format), which an answer in prose does not write. Functionary's calls have no such start.
    var lazyTrigger: String? {
        guard choice == .auto else { return nil }
        switch family {
        case .llama3: return #"{"name""#
        case .generic: return #"{"tool_calls""#
        default: return family.callMarker
        }
    }

    /// The functions a constrained reply may call.
    var callable: [Function] {
        if case .function(let name) = choice { return functions.filter { $0.name == name } }
        return functions
    }

    /// Splits a whole reply into content and calls (only the first call when parallel calls are off).
    func parse(_ text: String) -> ParsedReply {
        var reply = family.parse(text)
        if !parallel, reply.calls.count > 1 { reply.calls = [reply.calls[0]] }
        return reply
    }

    /// What the system message says about the tools when the template has no place for them.
    func systemInstructions() -> String {
        var described: [String] = []
        for function in functions {
            described.append("{\"name\": \(JSONSchemaValue.string(function.name).serialized), \"parameters\": \(function.parameters.serialized)}")
        }
        return "You can call these tools:\n" + described.joined(separator: "\n")
            + "\nTo call tools, reply with only a JSON object: {\"tool_calls\": [{\"name\": \"<tool name>\", \"arguments\": {<arguments>}}]}"
    }
}
