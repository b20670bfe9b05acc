import NibbleGeneration

/// OpenAI `usage`.
struct UsageDTO: Encodable, Equatable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int
    var promptTokensDetails: PromptTokensDetails

    /// Prompt tokens whose keys and values were reused from the prefix cache.
    struct PromptTokensDetails: Encodable, Equatable {
        var cachedTokens: Int
        enum CodingKeys: String, CodingKey { case cachedTokens = "cached_tokens" }
    }

    init(_ usage: Usage) {
        promptTokens = usage.promptTokens
        completionTokens = usage.completionTokens
        totalTokens = usage.totalTokens
        promptTokensDetails = PromptTokensDetails(cachedTokens: usage.cachedTokens)
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case promptTokensDetails = "prompt_tokens_details"
    }
}

/// The OpenAI response envelope: a whole `text_completion` / `chat.completion`, or one stream chunk.
struct OpenAIResponseDTO<Choice: Encodable>: Encodable {
    var id: String
    var object: String
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: UsageDTO?
    /// Whether `usage` is written even when nil (`stream_options.include_usage` asks for `null` on every chunk).
    var alwaysWriteUsage = false
    var timings: TimingsDTO?

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage, timings, systemFingerprint = "system_fingerprint" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(object, forKey: .object)
        try container.encode(created, forKey: .created)
        try container.encode(model, forKey: .model)
        try container.encode(ServerInfo.fingerprint, forKey: .systemFingerprint)
        try container.encode(choices, forKey: .choices)
        if alwaysWriteUsage { try container.encode(usage, forKey: .usage) } else { try container.encodeIfPresent(usage, forKey: .usage) }
        try container.encodeIfPresent(timings, forKey: .timings)
    }
}

/// One `text_completion` choice.
struct CompletionChoiceDTO: Encodable {
    var text: String
    var index = 0
    /// nil is written as `null` (a chunk that does not end the stream).
    var finishReason: String?
    /// Written as `null` when not asked for.
    var logprobs: CompletionLogprobsDTO?

    enum CodingKeys: String, CodingKey { case text, index, logprobs, finishReason = "finish_reason" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(text, forKey: .text)
        try container.encode(index, forKey: .index)
        try container.encode(logprobs, forKey: .logprobs)
        try container.encode(finishReason, forKey: .finishReason)
    }
}

/// A chat message or a stream delta.
struct ChatMessageDTO: Encodable {
    var role: String?
    var content: String?
    /// The reply's `<think>` block, when the reasoning format splits it off (llama.cpp's and vLLM's field).
    var reasoningContent: String?
    var toolCalls: [ToolCallDTO]?

    enum CodingKeys: String, CodingKey { case role, content, reasoningContent = "reasoning_content", toolCalls = "tool_calls" }
}

/// One call in `message.tool_calls`, or one fragment of it in a stream delta (`index` set; the first fragment
/// carries `id`, `type` and the name, later ones pieces of `arguments`).
struct ToolCallDTO: Encodable {
    struct Function: Encodable {
        var name: String?
        var arguments: String?
    }

    var index: Int?
    var id: String?
    var type: String?
    var function: Function
}

/// One `chat.completion` choice: whole responses carry `message`, chunks carry `delta`.
struct ChatChoiceDTO: Encodable {
    var index = 0
    var message: ChatMessageDTO?
    var delta: ChatMessageDTO?
    var finishReason: String?
    /// Written as `null` when not asked for.
    var logprobs: ChatLogprobsDTO?

    enum CodingKeys: String, CodingKey { case index, message, delta, logprobs, finishReason = "finish_reason" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encodeIfPresent(message, forKey: .message)
        try container.encodeIfPresent(delta, forKey: .delta)
        try container.encode(logprobs, forKey: .logprobs)
        try container.encode(finishReason, forKey: .finishReason)
    }
}

typealias CompletionResponseDTO = OpenAIResponseDTO<CompletionChoiceDTO>
typealias ChatCompletionResponseDTO = OpenAIResponseDTO<ChatChoiceDTO>

/// `GET /v1/models`.
struct ModelListDTO: Encodable {
    struct Model: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "nibble"
        /// llama.cpp-style extras: where the model is in loading, and its context length.
        var status: String
        var contextLength: Int?
        /// Other names requests may use for it.
        var aliases: [String] = []

        enum CodingKeys: String, CodingKey {
            case id, object, created, status, aliases, ownedBy = "owned_by", contextLength = "context_length"
        }
    }

    var object = "list"
    var data: [Model]
}

/// Constants that appear in every response.
enum ServerInfo {
    static let fingerprint = "nibble"
}
