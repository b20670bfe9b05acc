import Foundation
import Hummingbird
import NibbleEngine
import NibbleGeneration

/// The generation endpoints: OpenAI `/v1/completions`, `/v1/chat/completions` and llama.cpp `/completion`.
///
/// Each handler validates into `ValidatedGeneration`s (one per prompt), submits one generation per choice to the
/// scheduler and either serializes their merged events as SSE or folds them into one JSON body; both paths see
/// the same events.
struct GenerationController: Sendable {
    let validator: GenerationValidator
    let scheduler: Scheduler
    let body: BodyLimits

    func register(on router: Router<NibbleRequestContext>) {
        // OpenAI's routes also without `/v1`, for clients whose base URL lacks it; llama.cpp's own is `/completion`.
        for prefix in ["/v1", ""] {
            router.post("\(prefix)/completions") { request, context in
                try await context.cancellingOnHangup { try await completions(request) }
            }
            router.post("\(prefix)/chat/completions") { request, context in
                try await context.cancellingOnHangup { try await chatCompletions(request) }
            }
        }
        router.post("/completion") { request, context in
            try await context.cancellingOnHangup { try await llamaCompletion(request) }
        }
        router.post("/apply-template") { request, _ in try await applyTemplate(request) }
    }

    private static func newId(_ prefix: String) -> String {
        prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
    }

    private static var now: Int { Int(Date().timeIntervalSince1970) }

    // MARK: - POST /v1/completions

    func completions(_ request: Request) async throws -> Response {
        var request = request
        var dto = try await JSONBody.decode(CompletionRequestDTO.self, from: &request, limits: body)
        dto.structured.keepKeyOrder(from: try await rawBody(request))
        let generations = try await PromptWork.run { [dto] in try validator.completion(dto) }
        let first = generations[0]
        let options = first.choices
        let events = try ChoiceStreams.submit(generations.flatMap { $0.engineRequests(label: "/v1/completions") },
                                              to: scheduler)
        let count = generations.count * options.n
        let spelling = TokenSpelling(tokenizer: first.model.tokenizer)
        let id = Self.newId("cmpl-")
        let created = Self.now
        @Sendable func response(_ choices: [CompletionChoiceDTO], usage: UsageDTO?, timings: TimingsDTO? = nil) -> CompletionResponseDTO {
            CompletionResponseDTO(id: id, object: "text_completion", created: created, model: first.modelName,
                                  choices: choices, usage: usage,
                                  alwaysWriteUsage: first.stream && first.includeUsage, timings: timings)
        }
        /// The echoed prompt's tokens: the first has nothing to be predicted from.
        @Sendable func promptLogprobs(_ index: Int, _ scores: [TokenLogprob], offset: inout Int) -> CompletionLogprobsDTO {
            var logprobs = CompletionLogprobsDTO()
            logprobs.appendUnscored(generations[index / options.n].promptTokens[0], spelling: spelling, offset: &offset)
            for score in scores { logprobs.append(score, spelling: spelling, offset: &offset) }
            return logprobs
        }
        if !first.stream {
            let results = try await ChoiceStreams.whole(events, count: count)
            let choices = results.enumerated().map { index, result in
                let generation = generations[index / options.n]
                var logprobs: CompletionLogprobsDTO?
                if options.logprobs != nil {
                    var offset = 0
                    var entries = options.echo ? promptLogprobs(index, result.promptLogprobs ?? [], offset: &offset)
                        : CompletionLogprobsDTO()
                    for entry in result.logprobs { entries.append(entry, spelling: spelling, offset: &offset) }
                    logprobs = entries
                }
                return CompletionChoiceDTO(text: (options.echo ? generation.prompt : "") + result.text, index: index,
                                           finishReason: result.finishReason.openAIName, logprobs: logprobs)
            }
            return try json(response(choices, usage: UsageDTO(ChoiceStreams.usage(results.map(\.usage), n: options.n)),
                                     timings: TimingsDTO(results[0].timings)))
        }
        return SSE.response(for: request) { sse in
            var offsets = Array(repeating: 0, count: count)
            // An echoed prompt opens each choice; with logprobs it waits for its scores.
            let opening = options.echo && options.logprobs == nil
                ? (0..<count).map { CompletionChoiceDTO(text: generations[$0 / options.n].prompt, index: $0) } : []
            try await Self.streamOpenAI(
                events, count: count, n: options.n, opening: opening, to: &sse, includeUsage: first.includeUsage,
                envelope: { choices, usage, timings in response(choices, usage: usage, timings: timings) },
                promptScores: { index, scores in
                    guard options.echo else { return nil }
                    return CompletionChoiceDTO(text: generations[index / options.n].prompt, index: index,
                                               logprobs: promptLogprobs(index, scores, offset: &offsets[index]))
                },
                piece: { index, text, scores in
                    CompletionChoiceDTO(text: text, index: index,
                                        logprobs: options.logprobs == nil ? nil : {
                                            var logprobs = CompletionLogprobsDTO()
                                            for entry in scores { logprobs.append(entry, spelling: spelling, offset: &offsets[index]) }
                                            return logprobs
                                        }())
                },
                finish: { index, reason, scores in
                    var logprobs: CompletionLogprobsDTO?
                    if options.logprobs != nil && !scores.isEmpty {
                        var entries = CompletionLogprobsDTO()
                        for entry in scores { entries.append(entry, spelling: spelling, offset: &offsets[index]) }
                        logprobs = entries
                    }
                    return CompletionChoiceDTO(text: "", index: index, finishReason: reason, logprobs: logprobs)
                })
        }
    }

    // MARK: - POST /v1/chat/completions
    //
    // A reply may start right after a format's "Assistant:", so the model's first token often carries a word
    // space; chat clients show the message on its own, so leading spaces are dropped (streamed and whole alike).

    func chatCompletions(_ request: Request) async throws -> Response {
        var request = request
        let dto = try await chatBody(&request)
        let validated = try await PromptWork.run { try validator.chat(dto) }
        let options = validated.choices
        let events = try ChoiceStreams.submit(validated.engineRequests(label: "/v1/chat/completions"), to: scheduler)
        let count = options.n
        let spelling = TokenSpelling(tokenizer: validated.model.tokenizer)
        let id = Self.newId("chatcmpl-")
        let created = Self.now
        @Sendable func logprobs(_ entries: [TokenLogprob]) -> ChatLogprobsDTO? {
            options.logprobs == nil ? nil : ChatLogprobsDTO(entries, spelling: spelling)
        }
        @Sendable func chunk(_ choices: [ChatChoiceDTO], usage: UsageDTO?, timings: TimingsDTO? = nil) -> ChatCompletionResponseDTO {
            ChatCompletionResponseDTO(id: id, object: "chat.completion.chunk", created: created, model: validated.modelName,
                                      choices: choices, usage: usage, alwaysWriteUsage: validated.includeUsage, timings: timings)
        }
        if !validated.stream {
            let results = try await ChoiceStreams.whole(events, count: count)
            let body = ChatCompletionResponseDTO(
                id: id, object: "chat.completion", created: created, model: validated.modelName,
                choices: results.enumerated().map { index, result in
                    var text = result.text
                    var message = ChatMessageDTO(role: "assistant")
                    if let reasoning = validated.reasoning {
                        (message.reasoningContent, text) = ReasoningSplitter.split(text, startsInside: reasoning.startsInside)
                    }
                    message.content = String(text.drop { $0 == " " })
                    var finishReason = result.finishReason.openAIName
                    if let tools = validated.tools {
                        let reply = tools.parse(text)
                        if !reply.calls.isEmpty {
                            message.content = reply.content
                            message.toolCalls = reply.calls.map { Self.toolCall($0, family: tools.family) }
                            finishReason = "tool_calls"
                        }
                    }
                    return ChatChoiceDTO(index: index, message: message, finishReason: finishReason,
                                         logprobs: logprobs(result.logprobs))
                },
                usage: UsageDTO(ChoiceStreams.usage(results.map(\.usage), n: count)), timings: TimingsDTO(results[0].timings))
            return try json(body)
        }
        if let tools = validated.tools {
            return SSE.response(for: request) { sse in
                try await Self.streamToolReply(events, count: count, tools: tools, reasoning: validated.reasoning, to: &sse,
                                               includeUsage: validated.includeUsage, logprobs: logprobs) { choices, usage, timings in
                    chunk(choices, usage: usage, timings: timings)
                }
            }
        }
        return SSE.response(for: request) { sse in
            var replyStarted = Array(repeating: false, count: count)
            var splitters = validated.reasoning.map { Array(repeating: $0.splitter, count: count) }
            /// Content after the leading spaces every chat reply drops.
            func content(_ index: Int, _ text: String) -> String? {
                if replyStarted[index] { return text.isEmpty ? nil : text }
                let text = String(text.drop { $0 == " " })
                if text.isEmpty { return nil }
                replyStarted[index] = true
                return text
            }
            try await Self.streamOpenAI(
                events, count: count, n: count,
                opening: (0..<count).map { ChatChoiceDTO(index: $0, delta: .init(role: "assistant", content: "")) },
                to: &sse, includeUsage: validated.includeUsage,
                envelope: { choices, usage, timings in chunk(choices, usage: usage, timings: timings) },
                promptScores: { _, _ in nil },
                piece: { index, text, scores in
                    var part: (reasoning: String, content: String) = ("", text)
                    if splitters != nil { part = splitters![index].append(text) }
                    let delta = ChatMessageDTO(content: content(index, part.content),
                                               reasoningContent: part.reasoning.isEmpty ? nil : part.reasoning)
                    if delta.content == nil && delta.reasoningContent == nil { return nil }
                    return ChatChoiceDTO(index: index, delta: delta, logprobs: logprobs(scores))
                },
                finish: { index, reason, scores in
                    // What the splitter still held (a reply cut off inside its reasoning) ends the stream.
                    let rest = splitters?[index].finish() ?? (reasoning: "", content: "")
                    return ChatChoiceDTO(index: index,
                                         delta: .init(content: content(index, rest.content),
                                                      reasoningContent: rest.reasoning.isEmpty ? nil : rest.reasoning),
                                         finishReason: reason, logprobs: scores.isEmpty ? nil : logprobs(scores))
                })
        }
    }

    // MARK: - POST /apply-template (llama.cpp)

    func applyTemplate(_ request: Request) async throws -> Response {
        var request = request
        let dto = try await chatBody(&request)
        return try json(ApplyTemplateResponseDTO(prompt: try await PromptWork.run { try validator.applyTemplate(dto) }))
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

    /// The OpenAI stream: the opening chunks, a chunk per piece of text of any choice (with the log-probabilities
    /// of the tokens it carries), one chunk per choice carrying its `finish_reason` and timings, a usage-only chunk
    /// when `stream_options.include_usage` asked for one, then `[DONE]`. A cancelled generation (the client left)
    /// just ends.
    private static func streamOpenAI<Choice: Encodable>(
        _ events: AsyncThrowingStream<ChoiceEvent, any Error>, count: Int, n: Int, opening: [Choice],
        to sse: inout SSEWriter, includeUsage: Bool,
        envelope: ([Choice], UsageDTO?, TimingsDTO?) -> OpenAIResponseDTO<Choice>,
        promptScores: (Int, [TokenLogprob]) -> Choice?,
        piece: (Int, String, [TokenLogprob]) -> Choice?, finish: (Int, String, [TokenLogprob]) -> Choice
    ) async throws {
        for choice in opening { try await sse.send(envelope([choice], nil, nil)) }
        // Log-probabilities of tokens whose text is held back (partial UTF-8, a possible stop string) wait for
        // the chunk that carries their text.
        var pending = Array(repeating: [TokenLogprob](), count: count)
        var usages = Array(repeating: Usage(promptTokens: 0, completionTokens: 0), count: count)
        for try await choice in events {
            let index = choice.index
            switch choice.event {
            case .logprobs(let entry):
                pending[index].append(entry)
            case .promptLogprobs(let scores):
                if let chunk = promptScores(index, scores) { try await sse.send(envelope([chunk], nil, nil)) }
            case .token(_, let text) where !text.isEmpty:
                guard let chunk = piece(index, text, pending[index]) else { continue }
                pending[index].removeAll()
                try await sse.send(envelope([chunk], nil, nil))
            case .token: continue
            case .done(let reason, let usage, let timings):
                if reason == .cancelled { return }
                usages[index] = usage
                try await sse.send(envelope([finish(index, reason.openAIName, pending[index])], nil, TimingsDTO(timings)))
                pending[index].removeAll()
            }
        }
        if includeUsage { try await sse.send(envelope([], UsageDTO(ChoiceStreams.usage(usages, n: n)), nil)) }
        try await sse.sendDone()
    }

    /// A chat stream whose reply may hold tool calls: content deltas as `ToolReplyStream` releases them, then
    /// per call a delta with its index, id, type, name and empty arguments and one with the arguments, and the
    /// final chunk with `finish_reason` "tool_calls" when there were calls.
    private static func streamToolReply(
        _ events: AsyncThrowingStream<ChoiceEvent, any Error>, count: Int, tools: ToolCalling, reasoning: ReasoningParsing?,
        to sse: inout SSEWriter, includeUsage: Bool, logprobs: ([TokenLogprob]) -> ChatLogprobsDTO?,
        envelope: ([ChatChoiceDTO], UsageDTO?, TimingsDTO?) -> ChatCompletionResponseDTO
    ) async throws {
        var replies = Array(repeating: ToolReplyStream(tools: tools), count: count)
        // Reasoning is sent as it comes; only the content after it may hold calls.
        var splitters = reasoning.map { Array(repeating: $0.splitter, count: count) }
        var replyStarted = Array(repeating: false, count: count)
        var pending = Array(repeating: [TokenLogprob](), count: count)
        var usages = Array(repeating: Usage(promptTokens: 0, completionTokens: 0), count: count)
        func content(_ index: Int, _ text: String) -> ChatChoiceDTO? {
            var text = text
            if !replyStarted[index] {
                text = String(text.drop { $0 == " " })
                if text.isEmpty { return nil }
                replyStarted[index] = true
            }
            defer { pending[index].removeAll() }
            return ChatChoiceDTO(index: index, delta: .init(content: text), logprobs: logprobs(pending[index]))
        }
        func thought(_ index: Int, _ text: String) -> ChatChoiceDTO? {
            if text.isEmpty { return nil }
            defer { pending[index].removeAll() }
            return ChatChoiceDTO(index: index, delta: .init(reasoningContent: text), logprobs: logprobs(pending[index]))
        }
        for index in 0..<count {
            try await sse.send(envelope([ChatChoiceDTO(index: index, delta: .init(role: "assistant", content: ""))], nil, nil))
        }
        for try await choice in events {
            let index = choice.index
            switch choice.event {
            case .logprobs(let entry):
                pending[index].append(entry)
            case .promptLogprobs:
                continue
            case .token(_, let text):
                var part: (reasoning: String, content: String) = ("", text)
                if splitters != nil { part = splitters![index].append(text) }
                if let chunk = thought(index, part.reasoning) { try await sse.send(envelope([chunk], nil, nil)) }
                if let chunk = content(index, replies[index].append(part.content)) { try await sse.send(envelope([chunk], nil, nil)) }
            case .done(let reason, let usage, let timings):
                if reason == .cancelled { return }
                usages[index] = usage
                if let held = splitters?[index].finish() {
                    if let chunk = thought(index, held.reasoning) { try await sse.send(envelope([chunk], nil, nil)) }
                    if let chunk = content(index, replies[index].append(held.content)) { try await sse.send(envelope([chunk], nil, nil)) }
                }
                let (calls, rest) = replies[index].finish()
                if let chunk = content(index, rest) { try await sse.send(envelope([chunk], nil, nil)) }
                for (callIndex, call) in calls.enumerated() {
                    var opening = toolCall(call, family: tools.family)
                    opening.index = callIndex
                    opening.function.arguments = ""
                    try await sse.send(envelope([ChatChoiceDTO(index: index, delta: .init(toolCalls: [opening]))], nil, nil))
                    let arguments = ToolCallDTO(index: callIndex, function: .init(arguments: call.arguments))
                    try await sse.send(envelope([ChatChoiceDTO(index: index, delta: .init(toolCalls: [arguments]))], nil, nil))
                }
                let finish = calls.isEmpty ? reason.openAIName : "tool_calls"
                try await sse.send(envelope([ChatChoiceDTO(index: index, delta: .init(), finishReason: finish,
                                                           logprobs: pending[index].isEmpty ? nil : logprobs(pending[index]))],
                                            nil, TimingsDTO(timings)))
                pending[index].removeAll()
            }
        }
        if includeUsage { try await sse.send(envelope([], UsageDTO(ChoiceStreams.usage(usages, n: count)), nil)) }
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
        let generations = try await PromptWork.run { [dto] in try validator.llamaCompletion(dto) }
        let first = generations[0]
        // Several prompts: one result each, in order, each carrying its `index` (llama.cpp answers with a list).
        let several = generations.count > 1
        let events = try ChoiceStreams.submit(generations.flatMap { $0.engineRequests(label: "/completion") }, to: scheduler)
        let spelling = TokenSpelling(tokenizer: first.model.tokenizer)
        @Sendable func probabilities(_ entries: [TokenLogprob]) -> [LlamaTokenProbabilityDTO]? {
            first.choices.logprobs == nil ? nil : entries.map { LlamaTokenProbabilityDTO($0, spelling: spelling) }
        }
        let parameters = first.parameters
        @Sendable func final(_ index: Int, content: String, tokens: [Int], reason: FinishReason, timings: Timings,
                             logprobs: [TokenLogprob]) -> LlamaCompletionResponseDTO {
            let (stopType, word): (String, String) = switch reason {
            case .stop(.eos), .stop(.grammarComplete): ("eos", "")
            case .stop(.string(let stop)): ("word", stop)
            case .length: ("limit", "")
            case .cancelled: ("none", "")
            case .shutdown: ("limit", "")
            }
            let promptCount = generations[index].promptTokens.count
            return LlamaCompletionResponseDTO(
                index: index, content: content, tokens: tokens, model: first.modelName, tokensPredicted: timings.predictedTokens,
                tokensEvaluated: promptCount,
                generationSettings: .init(
                    nPredict: parameters.maxNewTokens, temperature: parameters.temperature, topK: parameters.topK,
                    topP: parameters.topP, minP: parameters.minP, repeatPenalty: parameters.repetitionPenalty,
                    seed: parameters.seed.map { Int64(bitPattern: $0) } ?? -1, stop: parameters.stopStrings),
                prompt: generations[index].prompt, hasNewLine: content.contains("\n"), stopType: stopType, stoppingWord: word,
                tokensCached: promptCount + timings.predictedTokens, timings: TimingsDTO(timings),
                completionProbabilities: probabilities(logprobs))
        }
        if !first.stream {
            let results = try await ChoiceStreams.whole(events, count: generations.count).enumerated().map { index, result in
                final(index, content: result.text, tokens: result.tokens, reason: result.finishReason, timings: result.timings,
                      logprobs: result.logprobs)
            }
            return several ? try json(results) : try json(results[0])
        }
        return SSE.response(for: request) { sse in
            var pending = Array(repeating: [Int](), count: generations.count)
            var pendingLogprobs = Array(repeating: [TokenLogprob](), count: generations.count)
            var predicted = Array(repeating: 0, count: generations.count)
            for try await choice in events {
                let index = choice.index
                switch choice.event {
                case .logprobs(let entry):
                    pendingLogprobs[index].append(entry)
                case .promptLogprobs:
                    continue
                case .token(let id, let text):
                    predicted[index] += 1
                    pending[index].append(id)
                    guard !text.isEmpty else { continue }
                    try await sse.send(LlamaStreamChunkDTO(index: index, content: text, tokens: pending[index],
                                                           tokensPredicted: predicted[index],
                                                           tokensEvaluated: generations[index].promptTokens.count,
                                                           completionProbabilities: probabilities(pendingLogprobs[index])))
                    pending[index].removeAll()
                    pendingLogprobs[index].removeAll()
                case .done(let reason, _, let timings):
                    if reason == .cancelled { return }
                    // As llama.cpp: the last frame repeats the summary with empty content and no [DONE] follows.
                    try await sse.send(final(index, content: "", tokens: pending[index], reason: reason, timings: timings,
                                             logprobs: pendingLogprobs[index]))
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
