/// The sampling and streaming fields both OpenAI generation bodies share (plus the common vLLM/llama.cpp
/// extensions `top_k`, `min_p`, `repetition_penalty`, `ignore_eos`), decoded from the same JSON object.
struct OpenAISamplingDTO: Decodable {
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
    var ignoreEos: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case temperature, seed, stop, stream, n
        case maxTokens = "max_tokens", topP = "top_p", topK = "top_k", minP = "min_p"
        case repetitionPenalty = "repetition_penalty", frequencyPenalty = "frequency_penalty"
        case presencePenalty = "presence_penalty", streamOptions = "stream_options", ignoreEos = "ignore_eos"
    }

    /// The fields for validation; `maxTokens` overrides `max_tokens` (chat's `max_completion_tokens`).
    func fields(maxTokens override: Int? = nil) -> SamplingFields {
        SamplingFields(maxTokens: override ?? maxTokens, temperature: temperature, topP: topP, topK: topK, minP: minP,
                       repetitionPenalty: repetitionPenalty, frequencyPenalty: frequencyPenalty,
                       presencePenalty: presencePenalty, seed: seed, stop: stop?.values, ignoreEOS: ignoreEos)
    }
}

/// `POST /v1/completions` body.
struct CompletionRequestDTO: Decodable {
    var model: String?
    var prompt: CompletionPrompts?
    var echo: Bool?
    var sampling: OpenAISamplingDTO
    var choiceFields: CompletionChoiceFieldsDTO
    var structured: StructuredOutputDTO

    enum CodingKeys: String, CodingKey, CaseIterable { case model, prompt, echo }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        prompt = try container.decodeIfPresent(CompletionPrompts.self, forKey: .prompt)
        echo = try container.decodeIfPresent(Bool.self, forKey: .echo)
        sampling = try OpenAISamplingDTO(from: decoder)
        choiceFields = try CompletionChoiceFieldsDTO(from: decoder)
        structured = try StructuredOutputDTO(from: decoder)
    }
}

/// `POST /v1/chat/completions` body (also `POST /apply-template`, which reads only the chat fields).
///
/// Messages stay generic JSON here: every field of a message reaches the template, as with transformers;
/// `ChatConversation` checks them.
struct ChatCompletionRequestDTO: Decodable {
    var model: String?
    var messages: [TemplateValueDTO]?
    var maxCompletionTokens: Int?
    var tools: TemplateValueDTO?
    var toolChoice: TemplateValueDTO?
    var addGenerationPrompt: Bool?
    var continueFinalMessage: Bool?
    var chatTemplateKwargs: [String: TemplateValueDTO]?
    /// A per-request template (vLLM's `chat_template`): refused, so it is never silently ignored.
    var chatTemplate: TemplateValueDTO?
    /// llama.cpp's `reasoning_format`: "auto" / "deepseek" (a `<think>` block goes to `reasoning_content`) or "none".
    var reasoningFormat: String?
    var sampling: OpenAISamplingDTO
    var choiceFields: ChatChoiceFieldsDTO
    var structured: StructuredOutputDTO
    var toolOptions: ToolOptionsDTO

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, messages, tools
        case maxCompletionTokens = "max_completion_tokens", toolChoice = "tool_choice"
        case addGenerationPrompt = "add_generation_prompt", continueFinalMessage = "continue_final_message"
        case chatTemplateKwargs = "chat_template_kwargs", chatTemplate = "chat_template"
        case reasoningFormat = "reasoning_format"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        messages = try container.decodeIfPresent([TemplateValueDTO].self, forKey: .messages)
        maxCompletionTokens = try container.decodeIfPresent(Int.self, forKey: .maxCompletionTokens)
        tools = try container.decodeIfPresent(TemplateValueDTO.self, forKey: .tools)
        toolChoice = try container.decodeIfPresent(TemplateValueDTO.self, forKey: .toolChoice)
        addGenerationPrompt = try container.decodeIfPresent(Bool.self, forKey: .addGenerationPrompt)
        continueFinalMessage = try container.decodeIfPresent(Bool.self, forKey: .continueFinalMessage)
        chatTemplateKwargs = try container.decodeIfPresent([String: TemplateValueDTO].self, forKey: .chatTemplateKwargs)
        chatTemplate = try container.decodeIfPresent(TemplateValueDTO.self, forKey: .chatTemplate)
        reasoningFormat = try container.decodeIfPresent(String.self, forKey: .reasoningFormat)
        sampling = try OpenAISamplingDTO(from: decoder)
        choiceFields = try ChatChoiceFieldsDTO(from: decoder)
        structured = try StructuredOutputDTO(from: decoder)
        toolOptions = try ToolOptionsDTO(from: decoder)
    }
}

struct StreamOptionsDTO: Decodable {
    var includeUsage: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable { case includeUsage = "include_usage" }
}
