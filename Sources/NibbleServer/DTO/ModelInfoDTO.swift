import NibbleGeneration

/// `GET /props` (llama.cpp): the model, its context, chat template and the settings a request starts from.
struct PropsDTO: Encodable {
    /// The settings a request gets for every field it leaves out, as llama.cpp's `default_generation_settings`.
    struct GenerationSettings: Encodable {
        struct Params: Encodable {
            var nPredict: Int
            var temperature: Float
            var topK: Int
            var topP: Float
            var minP: Float
            var repeatPenalty: Float
            var repeatLastN: Int
            var frequencyPenalty: Float
            var presencePenalty: Float
            var seed: Int64
            var stop: [String]
            var ignoreEOS: Bool

            init(_ parameters: GenerationParameters) {
                nPredict = parameters.maxNewTokens
                temperature = parameters.isGreedy ? 0 : parameters.temperature
                topK = parameters.topK
                topP = parameters.topP
                minP = parameters.minP
                repeatPenalty = parameters.repetitionPenalty
                repeatLastN = parameters.repetitionPenaltyWindow ?? -1
                frequencyPenalty = parameters.frequencyPenalty
                presencePenalty = parameters.presencePenalty
                seed = parameters.seed.map { Int64(bitPattern: $0) } ?? -1
                stop = parameters.stopStrings
                ignoreEOS = parameters.ignoreEOS
            }

            enum CodingKeys: String, CodingKey {
                case temperature, seed, stop
                case nPredict = "n_predict", topK = "top_k", topP = "top_p", minP = "min_p"
                case repeatPenalty = "repeat_penalty", repeatLastN = "repeat_last_n"
                case frequencyPenalty = "frequency_penalty", presencePenalty = "presence_penalty", ignoreEOS = "ignore_eos"
            }
        }

        var nCtx: Int
        var params: Params
        enum CodingKeys: String, CodingKey { case params, nCtx = "n_ctx" }
    }

    var model: String
    var aliases: [String]
    var modelPath: String
    var nCtx: Int
    var vocabSize: Int
    /// Sequences that run at once (llama.cpp's slots).
    var totalSlots: Int
    var chatTemplate: String?
    var chatTemplateToolUse: String?
    var bosToken: String?
    var eosToken: String?
    var defaultGenerationSettings: GenerationSettings
    var buildInfo = "nibble"

    enum CodingKeys: String, CodingKey {
        case model, aliases
        case modelPath = "model_path", nCtx = "n_ctx", vocabSize = "vocab_size", totalSlots = "total_slots"
        case chatTemplate = "chat_template", chatTemplateToolUse = "chat_template_tool_use"
        case bosToken = "bos_token", eosToken = "eos_token"
        case defaultGenerationSettings = "default_generation_settings", buildInfo = "build_info"
    }
}
