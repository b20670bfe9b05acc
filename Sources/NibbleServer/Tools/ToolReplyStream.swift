/// Streams a reply that may hold tool calls: text is passed on as content until a call may be starting, then
/// held back; at the end the whole reply is parsed and the calls are reported.
///
/// Families whose calls open with a marker (`<tool_call>`, `[TOOL_CALLS]`, …) stream the content before it,
/// holding back only a tail that could be the marker's beginning. Families whose calls fill the whole reply
/// (Llama 3, generic JSON, Functionary) hold everything once the reply could be a call; a constrained reply is
/// only calls, so it is held whole.
struct ToolReplyStream {
    let tools: ToolCalling
    /// The whole reply so far.
    private(set) var text = ""
    /// How much of `text` was passed on as content.
    private var emitted = 0
    /// Set once a call may have begun: nothing more is passed on until the end.
    private var holding = false

    init(tools: ToolCalling) {
        self.tools = tools
        holding = tools.constrainsDecoding || tools.family == .functionary
    }

    /// Adds generated text; returns the content that can be shown now (possibly empty).
    mutating func append(_ piece: String) -> String {
        text += piece
        guard !holding else { return "" }
        let pending = String(text.dropFirst(emitted))
        if let marker = tools.family.callMarker {
            if let found = pending.range(of: marker) {
                holding = true
                return release(String(pending[..<found.lowerBound]))
            }
            // Hold back the longest tail that could be the marker's first characters.
            var keep = 0
            for length in stride(from: min(marker.count - 1, pending.count), to: 0, by: -1)
            where pending.hasSuffix(marker.prefix(length)) {
                keep = length
                break
            }
            return release(String(pending.dropLast(keep)))
        }
        // The whole reply is the call: hold it as soon as it opens like JSON (or Llama's python tag).
        let start = text.drop { $0.isWhitespace }
        if start.isEmpty { return "" }
        if start.hasPrefix("{") || start.hasPrefix("<|python_tag|>") || "<|python_tag|>".hasPrefix(start) {
            holding = true
            return ""
        }
        return release(pending)
    }

    private mutating func release(_ content: String) -> String {
        emitted += content.count
        return content
    }

    /// The end of the reply: the calls, and content not passed on yet (all of what was held, when it turned out
    /// not to be calls).
    func finish() -> (calls: [ParsedToolCall], content: String) {
        let reply = tools.parse(text)
        if !reply.calls.isEmpty { return (reply.calls, "") }
        return ([], String(text.dropFirst(emitted)))
    }
}
