import NibbleTemplates

/// One call found in a reply: the function's name and its arguments as JSON text (OpenAI's `arguments`).
struct ParsedToolCall: Equatable, Sendable {
    var name: String
    var arguments: String
    /// An id the model wrote itself (Mistral does), else nil.
    var id: String?
}

/// A reply split into text for the user and tool calls.
struct ParsedReply: Equatable, Sendable {
    /// Text outside the calls, trimmed; nil when there is none.
    var content: String?
    var calls: [ParsedToolCall]
}

extension ToolCallFamily {
    /// Splits a whole reply (special tokens kept as text) into content and calls. Text that looks like a call but
    /// does not parse stays content, so nothing the model wrote is lost.
    func parse(_ text: String) -> ParsedReply {
        let calls: [ParsedToolCall]?
        var before = ""
        switch self {
        case .hermes:
            guard let start = text.range(of: "<tool_call>") else { return .plain(text) }
            let blocks = Self.hermesBlocks(String(text[start.lowerBound...]))
            guard !blocks.calls.isEmpty else { return .plain(text) }
            before = [String(text[..<start.lowerBound]).trimmingWhitespace, blocks.rest].filter { !$0.isEmpty }.joined(separator: "\n")
            calls = blocks.calls
        case .llama3:
            var body = Substring(text.trimmingWhitespace)
            if body.hasPrefix("<|python_tag|>") { body = body.dropFirst("<|python_tag|>".count) }
            calls = Self.jsonCalls(String(body), nameKey: "name", argumentKeys: ["parameters", "arguments"])
        case .mistral, .granite:
            let marker = callMarker!  // both have one
            guard let start = text.range(of: marker) else { return .plain(text) }
            before = String(text[..<start.lowerBound])
            calls = Self.jsonCalls(String(text[start.upperBound...]), nameKey: "name", argumentKeys: ["arguments", "parameters"])
        case .deepseekR1:
            guard let start = text.range(of: "<｜tool▁calls▁begin｜>") else { return .plain(text) }
            let blocks = Self.deepseekBlocks(String(text[start.upperBound...]))
            guard !blocks.calls.isEmpty else { return .plain(text) }
            before = [String(text[..<start.lowerBound]).trimmingWhitespace, blocks.rest].filter { !$0.isEmpty }.joined(separator: "\n")
            calls = blocks.calls
        case .functionary:
            return Self.functionary(text)
        case .commandR:
            guard let start = text.range(of: "Action:") else { return .plain(text) }
            before = String(text[..<start.lowerBound])
            var body = String(text[start.upperBound...]).trimmingWhitespace
            if body.hasPrefix("```json") { body = String(body.dropFirst(7)) } else if body.hasPrefix("```") { body = String(body.dropFirst(3)) }
            if body.hasSuffix("```") { body = String(body.dropLast(3)) }
            calls = Self.jsonCalls(body, nameKey: "tool_name", argumentKeys: ["parameters"])?
                .filter { $0.name != "directly-answer" }
        case .generic:
            return Self.generic(text)
        }
        guard let calls, !calls.isEmpty else { return .plain(text) }
        let content = before.trimmingWhitespace
        return ParsedReply(content: content.isEmpty ? nil : content, calls: calls)
    }

    // MARK: - Families

    /// `<tool_call> {json} </tool_call>` blocks; the last may lack its closing tag. Every block that parses is a
    /// call, so one cut off by `max_tokens` or malformed does not lose the others; what does not parse (such a
    /// block, text between blocks) is returned as text, in order, so nothing the model wrote is lost.
    private static func hermesBlocks(_ text: String) -> (calls: [ParsedToolCall], rest: String) {
        var calls: [ParsedToolCall] = []
        var leftovers: [Substring] = []
        var rest = Substring(text)
        while let open = rest.range(of: "<tool_call>") {
            leftovers.append(rest[..<open.lowerBound])
            var inner = rest[open.upperBound...]
            var block = rest[open.lowerBound...]
            if let close = inner.range(of: "</tool_call>") {
                block = rest[open.lowerBound..<close.upperBound]
                rest = inner[close.upperBound...]
                inner = inner[..<close.lowerBound]
            } else {
                rest = ""
            }
            if let call = call(from: String(inner), nameKey: "name", argumentKeys: ["arguments", "parameters"]) {
                calls.append(call)
            } else {
                leftovers.append(block)
            }
        }
        leftovers.append(rest)
        return (calls, leftovers.map { $0.trimmingWhitespace }.filter { !$0.isEmpty }.joined(separator: "\n"))
    }

    /// One call object, or a list of them, filling the whole text.
    private static func jsonCalls(_ text: String, nameKey: String, argumentKeys: [String]) -> [ParsedToolCall]? {
        guard let value = try? TemplateJSON.parse(text.trimmingWhitespace) else { return nil }
        let items: [Value]
        switch value {
        case .list(let list): items = list
        case .dict: items = [value]
        default: return nil
        }
        var calls: [ParsedToolCall] = []
        for item in items {
            guard let call = call(from: item, nameKey: nameKey, argumentKeys: argumentKeys) else { return nil }
            calls.append(call)
        }
        return calls
    }

    private static func call(from text: String, nameKey: String, argumentKeys: [String]) -> ParsedToolCall? {
        guard let value = try? TemplateJSON.parse(text.trimmingWhitespace) else { return nil }
        return call(from: value, nameKey: nameKey, argumentKeys: argumentKeys)
    }

    private static func call(from value: Value, nameKey: String, argumentKeys: [String]) -> ParsedToolCall? {
        guard case .dict(let fields) = value, case .string(let name)? = fields[nameKey], !name.isEmpty else { return nil }
        var arguments: Value = .dict(OrderedDict())
        if let key = argumentKeys.first(where: { fields[$0] != nil }), let given = fields[key] {
            // Some models write the arguments as a JSON string; OpenAI's field is that string.
            if case .string(let inner) = given, let decoded = try? TemplateJSON.parse(inner) { arguments = decoded } else { arguments = given }
        }
        guard case .dict = arguments, let json = try? TemplateJSON.serialize(arguments) else { return nil }
        return ParsedToolCall(name: name, arguments: json, id: fields["id"]?.stringValue)
    }

    /// `<｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>NAME\n```json\n{…}\n```<｜tool▁call▁end｜>` blocks after the calls'
    /// opening marker; the last may lack its end. As with `hermesBlocks`, every block that parses is a call and
    /// what does not (a block cut off by `max_tokens`, text between blocks) is returned as text, in order; the
    /// closing `<｜tool▁calls▁end｜>` marker is dropped.
    private static func deepseekBlocks(_ text: String) -> (calls: [ParsedToolCall], rest: String) {
        var calls: [ParsedToolCall] = []
        var leftovers: [Substring] = []
        var rest = Substring(text)
        while let open = rest.range(of: "<｜tool▁call▁begin｜>") {
            leftovers.append(rest[..<open.lowerBound])
            var inner = rest[open.upperBound...]
            var block = rest[open.lowerBound...]
            if let close = inner.range(of: "<｜tool▁call▁end｜>") {
                block = rest[open.lowerBound..<close.upperBound]
                rest = inner[close.upperBound...]
                inner = inner[..<close.lowerBound]
            } else {
                rest = ""
            }
            if let call = deepseekCall(inner) { calls.append(call) } else { leftovers.append(block) }
        }
        leftovers.append(rest)
        let text = leftovers.map { $0.replacing("<｜tool▁calls▁end｜>", with: "").trimmingWhitespace }
        return (calls, text.filter { !$0.isEmpty }.joined(separator: "\n"))
    }

    /// One block's inside: `TYPE<｜tool▁sep｜>NAME\n` and the arguments, fenced or not.
    private static func deepseekCall(_ inner: Substring) -> ParsedToolCall? {
        guard let sep = inner.range(of: "<｜tool▁sep｜>") else { return nil }
        let afterSep = inner[sep.upperBound...]
        guard let newline = afterSep.firstIndex(of: "\n") else { return nil }
        let name = afterSep[..<newline].trimmingWhitespace
        var body = afterSep[afterSep.index(after: newline)...].trimmingWhitespace
        if body.hasPrefix("```json") { body = String(body.dropFirst(7)) } else if body.hasPrefix("```") { body = String(body.dropFirst(3)) }
        if body.hasSuffix("```") { body = String(body.dropLast(3)) }
        guard !name.isEmpty, let args = try? TemplateJSON.parse(body.trimmingWhitespace), case .dict = args,
              let json = try? TemplateJSON.serialize(args) else { return nil }
        return ParsedToolCall(name: name, arguments: json)
    }

    /// `RECIPIENT\nBODY` parts separated by `>>>` (the first `>>>` is the prompt's).
    private static func functionary(_ text: String) -> ParsedReply {
        var content: [String] = []
        var calls: [ParsedToolCall] = []
        for part in text.components(separatedBy: ">>>") where !part.isEmpty {
            guard let newline = part.firstIndex(of: "\n") else {
                content.append(part)
                continue
            }
            let recipient = part[..<newline].trimmingWhitespace
            let body = String(part[part.index(after: newline)...])
            if recipient == "all" {
                content.append(body)
            } else if let args = try? TemplateJSON.parse(body.trimmingWhitespace), case .dict = args,
                      let json = try? TemplateJSON.serialize(args), !recipient.isEmpty {
                calls.append(ParsedToolCall(name: recipient, arguments: json))
            } else {
                content.append(String(part))
            }
        }
        let joined = content.joined().trimmingWhitespace
        return ParsedReply(content: joined.isEmpty ? nil : joined, calls: calls)
    }

    /// `{"tool_calls": [...]}`, `{"tool_call": {...}}` or `{"response": "..."}`.
    private static func generic(_ text: String) -> ParsedReply {
        guard case .dict(let fields)? = try? TemplateJSON.parse(text.trimmingWhitespace) else { return .plain(text) }
        if case .list(let items)? = fields["tool_calls"] {
            let calls = items.compactMap { call(from: $0, nameKey: "name", argumentKeys: ["arguments", "parameters"]) }
            if calls.count == items.count, !calls.isEmpty { return ParsedReply(content: nil, calls: calls) }
        }
        if let one = fields["tool_call"], let call = call(from: one, nameKey: "name", argumentKeys: ["arguments", "parameters"]) {
            return ParsedReply(content: nil, calls: [call])
        }
        if fields.count == 1, case .string(let response)? = fields["response"] { return .plain(response) }
        return .plain(text)
    }
}

extension ParsedReply {
    static func plain(_ text: String) -> ParsedReply {
        let trimmed = text.trimmingWhitespace
        return ParsedReply(content: trimmed.isEmpty ? nil : text, calls: [])
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace and newlines.
    var trimmingWhitespace: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
