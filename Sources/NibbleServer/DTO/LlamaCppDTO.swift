import NibbleGeneration

/// `POST /completion` body (llama.cpp native).
struct LlamaCompletionRequestDTO: Decodable {
    var model: String?
    var prompt: LlamaPrompt?
    /// -1 means "until the context is full".
    var nPredict: Int?
    /// llama.cpp's alias of `n_predict` (OpenAI's name); `n_predict` wins when both are given.
    var maxTokens: Int?
    var stop: StringOrList?
    var temperature: Double?
    var topK: Int?
    var topP: Double?
    var minP: Double?
    var repeatPenalty: Double?
    var repeatLastN: Int?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    /// -1 means random.
    var seed: Int64?
    var stream: Bool?
    var ignoreEos: Bool?
    /// Alternatives reported per generated token (`completion_probabilities`); 0 reports none.
    var nProbs: Int?
    var logitBias: LlamaLogitBiasDTO?
    /// `json_schema` and `grammar` (llama.cpp's names); decoded beside the fields above.
    var structured: StructuredOutputDTO? = nil

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, prompt, stop, temperature, seed, stream
        case nPredict = "n_predict", maxTokens = "max_tokens", topK = "top_k", topP = "top_p", minP = "min_p", repeatPenalty = "repeat_penalty"
        case repeatLastN = "repeat_last_n", presencePenalty = "presence_penalty"
        case frequencyPenalty = "frequency_penalty", ignoreEos = "ignore_eos"
        case nProbs = "n_probs", logitBias = "logit_bias"
    }
}

/// llama.cpp `timings`.
struct TimingsDTO: Encodable, Equatable {
    var cacheN = 0
    var promptN: Int
    var promptMs: Double
    var promptPerTokenMs: Double
    var promptPerSecond: Double
    var predictedN: Int
    var predictedMs: Double
    var predictedPerTokenMs: Double
    var predictedPerSecond: Double

    init(_ timings: Timings) {
        // As llama.cpp: prompt_n counts the prompt tokens evaluated, cache_n those reused from the cache.
        cacheN = timings.cachedTokens
        promptN = timings.promptTokens - timings.cachedTokens
        promptMs = timings.promptMilliseconds
        promptPerTokenMs = timings.promptPerTokenMilliseconds
        promptPerSecond = timings.promptPerSecond
        predictedN = timings.predictedTokens
        predictedMs = timings.predictedMilliseconds
        predictedPerTokenMs = timings.predictedPerTokenMilliseconds
        predictedPerSecond = timings.predictedPerSecond
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case cacheN = "cache_n", promptN = "prompt_n", promptMs = "prompt_ms", promptPerTokenMs = "prompt_per_token_ms"
        case promptPerSecond = "prompt_per_second", predictedN = "predicted_n", predictedMs = "predicted_ms"
        case predictedPerTokenMs = "predicted_per_token_ms", predictedPerSecond = "predicted_per_second"
    }
}

/// A stream frame of `/completion`, before the final one.
struct LlamaStreamChunkDTO: Encodable {
    var index = 0
    var content: String
    var tokens: [Int]
    var stop = false
    var idSlot = -1
    var tokensPredicted: Int
    var tokensEvaluated: Int
    /// With `n_probs`: the log-probabilities of this frame's tokens.
    var completionProbabilities: [LlamaTokenProbabilityDTO]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case index, content, tokens, stop, idSlot = "id_slot", tokensPredicted = "tokens_predicted"
        case tokensEvaluated = "tokens_evaluated", completionProbabilities = "completion_probabilities"
    }
}

/// The whole `/completion` response (also the last stream frame, with empty `content`).
struct LlamaCompletionResponseDTO: Encodable {
    struct Settings: Encodable {
        var nPredict: Int
        var temperature: Float
        var topK: Int
        var topP: Float
        var minP: Float
        var repeatPenalty: Float
        var seed: Int64
        var stop: [String]

        enum CodingKeys: String, CodingKey, CaseIterable {
            case temperature, seed, stop, nPredict = "n_predict", topK = "top_k", topP = "top_p", minP = "min_p"
            case repeatPenalty = "repeat_penalty"
        }
    }

    var index = 0
    var content: String
    var tokens: [Int] = []
    var idSlot = 0
    var stop = true
    var model: String
    var tokensPredicted: Int
    var tokensEvaluated: Int
    var generationSettings: Settings
    var prompt: String
    var hasNewLine: Bool
    var truncated = false
    var stopType: String
    var stoppingWord: String
    var tokensCached: Int
    var timings: TimingsDTO
    /// With `n_probs`: the log-probabilities of the generated tokens (of this frame's, when streamed).
    var completionProbabilities: [LlamaTokenProbabilityDTO]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case index, content, tokens, stop, model, prompt, truncated, timings
        case idSlot = "id_slot", tokensPredicted = "tokens_predicted", tokensEvaluated = "tokens_evaluated"
        case generationSettings = "generation_settings", hasNewLine = "has_new_line", stopType = "stop_type"
        case stoppingWord = "stopping_word", tokensCached = "tokens_cached"
        case completionProbabilities = "completion_probabilities"
    }
}

/// `POST /tokenize` and `POST /detokenize`.
/// llama.cpp's `/tokenize` body (`content`, `add_special`), or vLLM's (`prompt`, `add_special_tokens`), which
/// lm-evaluation-harness's remote tokenizer sends.
struct TokenizeRequestDTO: Decodable {
    var model: String?
    var content: String?
    var addSpecial: Bool?
    var withPieces: Bool?
    var prompt: String?
    var addSpecialTokens: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, content, prompt, addSpecial = "add_special", withPieces = "with_pieces"
        case addSpecialTokens = "add_special_tokens"
    }
}

/// llama.cpp's `tokens`, with vLLM's `count` and `max_model_len`.
struct TokenizeResponseDTO: Encodable {
    var tokens: [Int]
    var count: Int
    var maxModelLength: Int

    enum CodingKeys: String, CodingKey { case tokens, count, maxModelLength = "max_model_len" }
}

struct TokenPieceDTO: Encodable {
    var id: Int
    var piece: String
}

struct TokenizeWithPiecesResponseDTO: Encodable {
    var tokens: [TokenPieceDTO]
}

struct DetokenizeRequestDTO: Decodable {
    var model: String?
    var tokens: [Int]?

    enum CodingKeys: String, CodingKey, CaseIterable { case model, tokens }
}

/// llama.cpp's `content`, and the same text as vLLM's `prompt`.
struct DetokenizeResponseDTO: Encodable {
    var content: String
    var prompt: String { content }

    enum CodingKeys: String, CodingKey { case content, prompt }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(content, forKey: .content)
        try container.encode(prompt, forKey: .prompt)
    }
}

/// vLLM's `GET /tokenizer_info`: the special tokens and length limit clients need to tokenize on their side.
struct TokenizerInfoDTO: Encodable {
    var tokenizerClass: String
    var bosToken: String?
    var eosToken: String?
    var padToken: String?
    var unkToken: String?
    var modelMaxLength: Int
    var vocabSize: Int
    var addBosToken: Bool
    var chatTemplate: String?

    enum CodingKeys: String, CodingKey {
        case tokenizerClass = "tokenizer_class", bosToken = "bos_token", eosToken = "eos_token", padToken = "pad_token"
        case unkToken = "unk_token", modelMaxLength = "model_max_length", vocabSize = "vocab_size"
        case addBosToken = "add_bos_token", chatTemplate = "chat_template"
    }
}
