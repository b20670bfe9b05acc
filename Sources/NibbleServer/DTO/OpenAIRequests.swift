/// `POST /v1/completions` body (OpenAI, plus the common vLLM/llama.cpp extensions).
struct CompletionRequestDTO: Decodable {
    var model: String?
    var prompt: PromptInput?
    var maxTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var minP: Double?
    var repetitionPenalty: Double?
    var frequencyPenalty: Double?
    var presencePenalty: Double?
    var seed: Int64?
    var stop: StringOrList?
    var stream: Bool?
    var streamOptions: StreamOptionsDTO?
    var n: Int?
    var echo: Bool?
    var ignoreEos: Bool?

    enum CodingKeys: String, CodingKey {
        case model, prompt, temperature, seed, stop, stream, n, echo
        case maxTokens = "max_tokens", topP = "top_p", topK = "top_k", minP = "min_p"
        case repetitionPenalty = "repetition_penalty", frequencyPenalty = "frequency_penalty"
        case presencePenalty = "presence_penalty", streamOptions = "stream_options", ignoreEos = "ignore_eos"
    }
}

/// `POST /v1/chat/completions` body.
struct ChatCompletionRequestDTO: Decodable {
    struct Message: Decodable {
        var role: String
        var content: MessageContent?
    }

    var model: String?
    var messages: [Message]?
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var minP: Double?
    var repetitionPenalty: Double?
    var frequencyPenalty: Double?
    var presencePenalty: Double?
    var seed: Int64?
    var stop: StringOrList?
    var stream: Bool?
    var streamOptions: StreamOptionsDTO?
    var n: Int?
    var ignoreEos: Bool?

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, seed, stop, stream, n
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", topP = "top_p", topK = "top_k"
        case minP = "min_p", repetitionPenalty = "repetition_penalty", frequencyPenalty = "frequency_penalty"
        case presencePenalty = "presence_penalty", streamOptions = "stream_options", ignoreEos = "ignore_eos"
    }
}

struct StreamOptionsDTO: Decodable {
    var includeUsage: Bool?

    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}
