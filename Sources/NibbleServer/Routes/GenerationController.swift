import Foundation
import Hummingbird
import NibbleEngine
import NibbleGeneration

/// The generation endpoints: OpenAI `/v1/completions`, `/v1/chat/completions` and llama.cpp `/completion`.
///
/// Each handler validates into a `ValidatedGeneration`, submits it to the scheduler and either serializes the
/// event stream as SSE or folds it into one JSON body; both paths see the same events.
struct GenerationController<Context: RequestContext>: Sendable {
    let validator: GenerationValidator
    let scheduler: Scheduler
    let body: BodyLimits

    func register(on router: Router<Context>) {
        router.post("/v1/completions") { request, _ in try await completions(request) }
        router.post("/v1/chat/completions") { request, _ in try await chatCompletions(request) }
        router.post("/completion") { request, _ in try await llamaCompletion(request) }
        router.post("/completions") { request, _ in try await llamaCompletion(request) }
        router.post("/apply-template") { request, _ in try await applyTemplate(request) }
    }

    private func submit(_ validated: ValidatedGeneration, label: String) throws(APIError) -> AsyncThrowingStream<GenerationEvent, any Error> {
        do { return try scheduler.submit(validated.engineRequest(label: label)) } catch { throw APIError(error) }
    }

    private static func newId(_ prefix: String) -> String {
        prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
    }

    private static var now: Int { Int(Date().timeIntervalSince1970) }

    /// A non-streamed generation; one the server ended while shutting down is a 503 (a partial answer in a
    /// 200 would look complete).
    private static func whole(_ events: AsyncThrowingStream<GenerationEvent, any Error>) async throws -> GenerationResult {
        let result = try await GenerationResult(folding: events)
        if result.finishReason == .shutdown { throw APIError.unavailable("The server is shutting down; the generation was ended") }
        return result
    }

    // MARK: - POST /v1/completions

    func completions(_ request: Request) async throws -> Response {
        var request = request
        var dto = try await JSONBody.decode(CompletionRequestDTO.self, from: &request, limits: body)
        dto.structured.keepKeyOrder(from: try await rawBody(request))
        let validated = try validator.completion(dto)
        let events = try submit(validated, label: "/v1/completions")
        let id = Self.newId("cmpl-")
        let created = Self.now
        @Sendable func response(text: String, finish: String?, usage: UsageDTO?, timings: TimingsDTO? = nil) -> CompletionResponseDTO {
            CompletionResponseDTO(id: id, object: "text_completion", created: created, model: validated.modelName,
                                  choices: [.init(text: text, finishReason: finish)], usage: usage,
                                  alwaysWriteUsage: validated.stream && validated.includeUsage, timings: timings)
        }
        if !validated.stream {
            let result = try await Self.whole(events)
            return try json(response(text: result.text, finish: result.finishReason.openAIName,
                                     usage: UsageDTO(result.usage), timings: TimingsDTO(result.timings)))
        }
        return SSE.response(for: request) { sse in
            try await Self.streamOpenAI(
                events, to: &sse, includeUsage: validated.includeUsage,
                envelope: { choices, usage, timings in
                    var chunk = response(text: "", finish: nil, usage: usage, timings: timings)
                    chunk.choices = choices
                    return chunk
                },
                piece: { CompletionChoiceDTO(text: $0) },
                finish: { CompletionChoiceDTO(text: "", finishReason: $0) })
        }
    }

    // MARK: - POST /v1/chat/completions
    //
    // A reply may start right after a format's "Assistant:", so the model's first token often carries a word
    // space; chat clients show the message on its own, so leading spaces are dropped (streamed and whole alike).

    func chatCompletions(_ request: Request) async throws -> Response {
        var request = request
        let dto = try await chatBody(&request)
        let validated = try validator.chat(dto)
        let events = try submit(validated, label: "/v1/chat/completions")
        let id = Self.newId("chatcmpl-")
        let created = Self.now
        @Sendable func chunk(_ delta: ChatMessageDTO?, finish: String?, usage: UsageDTO?,
                   timings: TimingsDTO? = nil) -> ChatCompletionResponseDTO {
            ChatCompletionResponseDTO(id: id, object: "chat.completion.chunk", created: created, model: validated.modelName,
                                      choices: delta.map { [.init(delta: $0, finishReason: finish)] } ?? [],
                                      usage: usage, alwaysWriteUsage: validated.includeUsage, timings: timings)
        }
        if !validated.stream {
            let result = try await Self.whole(events)
            var message = ChatMessageDTO(role: "assistant", content: String(result.text.drop { $0 == " " }))
            var finishReason = result.finishReason.openAIName
            if let tools = validated.tools {
                let reply = tools.parse(result.text)
                if !reply.calls.isEmpty {
                    message.content = reply.content
                    message.toolCalls = reply.calls.map { Self.toolCall($0, family: tools.family) }
                    finishReason = "tool_calls"
                }
            }
            let body = ChatCompletionResponseDTO(
                id: id, object: "chat.completion", created: created, model: validated.modelName,
                choices: [.init(message: message, finishReason: finishReason)],
                usage: UsageDTO(result.usage), timings: TimingsDTO(result.timings))
            return try json(body)
        }
        if let tools = validated.tools {
            return SSE.response(for: request) { sse in
                try await sse.send(chunk(.init(role: "assistant", content: ""), finish: nil, usage: nil))
                try await Self.streamToolReply(events, tools: tools, to: &sse, includeUsage: validated.includeUsage) { choices, usage, timings in
                    var envelope = chunk(nil, finish: nil, usage: usage, timings: timings)
                    envelope.choices = choices
                    return envelope
                }
            }
        }
        return SSE.response(for: request) { sse in
            try await sse.send(chunk(.init(role: "assistant", content: ""), finish: nil, usage: nil))
            var replyStarted = false
            try await Self.streamOpenAI(
                events, to: &sse, includeUsage: validated.includeUsage,
                envelope: { choices, usage, timings in
                    var envelope = chunk(nil, finish: nil, usage: usage, timings: timings)
                    envelope.choices = choices
                    return envelope
                },
                piece: { text in
                    var text = text
                    if !replyStarted {
                        text = String(text.drop { $0 == " " })
                        if text.isEmpty { return nil }
                        replyStarted = true
                    }
                    return ChatChoiceDTO(delta: .init(content: text))
                },
                finish: { ChatChoiceDTO(delta: .init(), finishReason: $0) })
        }
    }

    // MARK: - POST /apply-template (llama.cpp)

    func applyTemplate(_ request: Request) async throws -> Response {
        var request = request
        let dto = try await chatBody(&request)
        return try json(ApplyTemplateResponseDTO(prompt: try validator.applyTemplate(dto)))
    }

    /// A chat body, its message and tool objects in the sender's key order (the decoder does not keep it).
    private func chatBody(_ request: inout Request) async throws -> ChatCompletionRequestDTO {
        var dto = try await JSONBody.decode(ChatCompletionRequestDTO.self, from: &request, limits: body)
        let raw = try await rawBody(request)
        dto.keepKeyOrder(from: raw)
        dto.structured.keepKeyOrder(from: raw)
        return dto
    }

    /// The body `JSONBody.decode` read whole and put back as one buffer, so this reads no more from the connection.
    private func rawBody(_ request: Request) async throws -> Data {
        let raw = try await request.body.collect(upTo: body.maxBytes)
        return Data(raw.readableBytesView)
    }

    /// The OpenAI stream after any opening chunk: a chunk per piece of text, then one carrying `finish_reason`
    /// and timings, a usage-only chunk when `stream_options.include_usage` asked for one, then `[DONE]`.
    /// A cancelled generation (the client left) just ends.
    private static func streamOpenAI<Choice: Encodable>(
        _ events: AsyncThrowingStream<GenerationEvent, any Error>, to sse: inout SSEWriter, includeUsage: Bool,
        envelope: ([Choice], UsageDTO?, TimingsDTO?) -> OpenAIResponseDTO<Choice>,
        piece: (String) -> Choice?, finish: (String?) -> Choice
    ) async throws {
        for try await event in events {
            switch event {
            case .token(_, let text) where !text.isEmpty:
                if let choice = piece(text) { try await sse.send(envelope([choice], nil, nil)) }
            case .token: continue
            case .done(let reason, let usage, let timings):
                if reason == .cancelled { return }
                try await sse.send(envelope([finish(reason.openAIName)], nil, TimingsDTO(timings)))
                if includeUsage { try await sse.send(envelope([], UsageDTO(usage), nil)) }
            }
        }
        try await sse.sendDone()
    }

    /// A chat stream whose reply may hold tool calls: content deltas as `ToolReplyStream` releases them, then
    /// per call a delta with its index, id, type, name and empty arguments and one with the arguments, and the
    /// final chunk with `finish_reason` "tool_calls" when there were calls.
    private static func streamToolReply(
        _ events: AsyncThrowingStream<GenerationEvent, any Error>, tools: ToolCalling, to sse: inout SSEWriter,
        includeUsage: Bool, envelope: ([ChatChoiceDTO], UsageDTO?, TimingsDTO?) -> ChatCompletionResponseDTO
    ) async throws {
        var reply = ToolReplyStream(tools: tools)
        var replyStarted = false
        func content(_ text: String) -> ChatChoiceDTO? {
            var text = text
            if !replyStarted {
                text = String(text.drop { $0 == " " })
                if text.isEmpty { return nil }
                replyStarted = true
            }
            return ChatChoiceDTO(delta: .init(content: text))
        }
        for try await event in events {
            switch event {
            case .token(_, let text):
                if let choice = content(reply.append(text)) { try await sse.send(envelope([choice], nil, nil)) }
            case .done(let reason, let usage, let timings):
                if reason == .cancelled { return }
                let (calls, rest) = reply.finish()
                if let choice = content(rest) { try await sse.send(envelope([choice], nil, nil)) }
                for (index, call) in calls.enumerated() {
                    var opening = toolCall(call, family: tools.family)
                    opening.index = index
                    opening.function.arguments = ""
                    try await sse.send(envelope([ChatChoiceDTO(delta: .init(toolCalls: [opening]))], nil, nil))
                    let arguments = ToolCallDTO(index: index, function: .init(arguments: call.arguments))
                    try await sse.send(envelope([ChatChoiceDTO(delta: .init(toolCalls: [arguments]))], nil, nil))
                }
                let finish = calls.isEmpty ? reason.openAIName : "tool_calls"
                try await sse.send(envelope([ChatChoiceDTO(delta: .init(), finishReason: finish)], nil, TimingsDTO(timings)))
                if includeUsage { try await sse.send(envelope([], UsageDTO(usage), nil)) }
            }
        }
        try await sse.sendDone()
    }

    /// A parsed call as OpenAI writes it. Mistral's templates insist on ids of nine letters and digits.
    private static func toolCall(_ call: ParsedToolCall, family: ToolCallFamily) -> ToolCallDTO {
        let random = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let id = call.id ?? (family == .mistral ? String(random.prefix(9)) : "call_" + random.prefix(24))
        return ToolCallDTO(id: id, type: "function", function: .init(name: call.name, arguments: call.arguments))
    }

    // MARK: - POST /completion (llama.cpp)

    func llamaCompletion(_ request: Request) async throws -> Response {
        var request = request
        var dto = try await JSONBody.decode(LlamaCompletionRequestDTO.self, from: &request, limits: body)
        let raw = try await rawBody(request)
        var structured = try JSONBody.decode(StructuredOutputDTO.self, from: raw)
        structured.keepKeyOrder(from: raw)
        dto.structured = structured
        let validated = try validator.llamaCompletion(dto)
        let events = try submit(validated, label: "/completion")
        let promptCount = validated.promptTokens.count
        let parameters = validated.parameters
        @Sendable func final(content: String, tokens: [Int], reason: FinishReason, timings: Timings) -> LlamaCompletionResponseDTO {
            let (stopType, word): (String, String) = switch reason {
            case .stop(.eos), .stop(.grammarComplete): ("eos", "")
            case .stop(.string(let stop)): ("word", stop)
            case .length: ("limit", "")
            case .cancelled: ("none", "")
            case .shutdown: ("limit", "")
            }
            return LlamaCompletionResponseDTO(
                content: content, tokens: tokens, model: validated.modelName, tokensPredicted: timings.predictedTokens,
                tokensEvaluated: promptCount,
                generationSettings: .init(
                    nPredict: parameters.maxNewTokens, temperature: parameters.temperature, topK: parameters.topK,
                    topP: parameters.topP, minP: parameters.minP, repeatPenalty: parameters.repetitionPenalty,
                    seed: parameters.seed.map { Int64(bitPattern: $0) } ?? -1, stop: parameters.stopStrings),
                prompt: validated.prompt, hasNewLine: content.contains("\n"), stopType: stopType, stoppingWord: word,
                tokensCached: promptCount + timings.predictedTokens, timings: TimingsDTO(timings))
        }
        if !validated.stream {
            let result = try await Self.whole(events)
            return try json(final(content: result.text, tokens: result.tokens, reason: result.finishReason, timings: result.timings))
        }
        return SSE.response(for: request) { sse in
            var pending: [Int] = []
            var predicted = 0
            for try await event in events {
                switch event {
                case .token(let id, let text):
                    predicted += 1
                    pending.append(id)
                    guard !text.isEmpty else { continue }
                    try await sse.send(LlamaStreamChunkDTO(content: text, tokens: pending, tokensPredicted: predicted,
                                                           tokensEvaluated: promptCount))
                    pending.removeAll()
                case .done(let reason, _, let timings):
                    if reason == .cancelled { return }
                    // As llama.cpp: the last frame repeats the summary with empty content and no [DONE] follows.
                    try await sse.send(final(content: "", tokens: pending, reason: reason, timings: timings))
                }
            }
        }
    }
}

/// A JSON response with the wire encoder.
func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    let data = try JSONEncoder.wire.encode(value)
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
