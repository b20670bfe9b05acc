import Foundation
import NibbleEngine
import NibbleGeneration
import NibbleGrammar
import NibbleModels

/// A generation request that passed validation: resolved model, encoded prompt, checked parameters.
struct ValidatedGeneration: Sendable {
    var modelName: String
    var model: LoadedModel
    /// The prompt as text (as the model sees it, after any chat template).
    var prompt: String
    var promptTokens: [Int]
    var parameters: ValidatedParameters
    var stream: Bool
    var includeUsage: Bool
    /// How many choices, and what each reports besides its text.
    var choices = ChoiceOptions()
    /// The grammar the output must match (`response_format`, `json_schema`, `grammar`, or forced tool calls).
    var grammar: Grammar? = nil
    /// Set for tool calls the model may make: `grammar` applies from this marker on.
    var grammarTrigger: String? = nil
    /// A chat's tools, when its replies are parsed into `tool_calls`.
    var tools: ToolCalling? = nil
    /// Set when a chat reply's `<think>` block goes to `reasoning_content`.
    var reasoning: ReasoningParsing? = nil

    /// One engine request per choice; with a seed, choice `i > 0` samples with a seed derived from it.
    func engineRequests(label: String) -> [GenerationRequest] {
        (0..<choices.n).map { index in
            var parameters = parameters
            if index > 0, let seed = parameters.seed { parameters.seed = ChoiceOptions.derivedSeed(seed, choice: index) }
            var request = GenerationRequest(modelName: modelName, model: model, promptTokens: promptTokens,
                                            parameters: parameters, label: label)
            request.logprobs = choices.logprobs
            request.promptLogprobs = choices.echo ? choices.logprobs : nil
            request.generates = choices.generates
            request.grammar = grammar
            request.grammarTrigger = grammarTrigger
            return request
        }
    }
}

/// Sampling fields common to every generation endpoint, before validation.
struct SamplingFields {
    var maxTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var minP: Double?
    var repetitionPenalty: Double?
    var repetitionWindow: Int?
    var frequencyPenalty: Double?
    var presencePenalty: Double?
    var seed: Int64?
    var stop: [String]?
    var ignoreEOS: Bool?
    /// Validated `logit_bias` (token id → bias, `-infinity` bans).
    var logitBias: [Int: Float] = [:]
    /// Wire names that differ from OpenAI's on this endpoint (`max_tokens` → `n_predict`), for error messages.
    var wireNames: [String: String] = [:]
}

/// Turns wire DTOs into `ValidatedGeneration`s. The only place request values are checked.
struct GenerationValidator: Sendable {
    let registry: ModelRegistry
    /// Configured per-model defaults, by model name.
    let defaults: [String: GenerationDefaults]

    // MARK: - Endpoints

    /// One validated generation per prompt, in order; each runs `n` choices.
    func completion(_ dto: CompletionRequestDTO) throws(APIError) -> [ValidatedGeneration] {
        let sampling = dto.sampling
        guard let prompts = dto.prompt?.prompts else { throw .invalidParameter(name: "prompt", reason: "is required") }
        try ChoiceOptions.checkPromptCount(prompts.count)
        guard !prompts.isEmpty else { throw .invalidParameter(name: "prompt", reason: "must not be empty") }
        var choices = ChoiceOptions(n: try ChoiceOptions.count(sampling.n, prompts: prompts.count))
        choices.echo = dto.echo ?? false
        choices.logprobs = try ChoiceOptions.alternatives(dto.choiceFields.logprobs, name: "logprobs")
        var fields = sampling.fields()
        if fields.maxTokens == 0 {
            // Scoring a prompt (lm-evaluation-harness loglikelihood): echo it, generate nothing.
            guard choices.echo else {
                throw .invalidParameter(name: "max_tokens", reason: "must be at least 1 (0 only with echo: true)")
            }
            choices.generates = false
            fields.maxTokens = 1
        }
        let grammar = try StructuredOutput.grammar(dto.structured)
        let (name, loaded) = try resolve(dto.model)
        fields.logitBias = try LogitBiasForms.openAI(dto.choiceFields.logitBias, vocabularySize: loaded.model.vocabularySize)
        var generations: [ValidatedGeneration] = []
        for (index, prompt) in prompts.enumerated() {
            var generation = try build(name: name, loaded: loaded, prompt: prompt, fields: fields, extraStops: [],
                                       stream: sampling.stream ?? false,
                                       includeUsage: sampling.streamOptions?.includeUsage ?? false,
                                       promptName: prompts.count > 1 ? "prompt[\(index)]" : "prompt")
            generation.choices = choices
            generation.grammar = grammar
            generations.append(generation)
        }
        return generations
    }

    /// A chat: the conversation rendered by the model's chat template (or its adapter's format), tokenized as
    /// transformers' `apply_chat_template` does (the template writes BOS itself, so none is added).
    func chat(_ dto: ChatCompletionRequestDTO) throws(APIError) -> ValidatedGeneration {
        let sampling = dto.sampling
        var choices = ChoiceOptions(n: try ChoiceOptions.count(sampling.n, prompts: 1))
        let top = try ChoiceOptions.alternatives(dto.choiceFields.topLogprobs, name: "top_logprobs")
        if dto.choiceFields.logprobs == true {
            choices.logprobs = top ?? 0
        } else if top != nil {
            throw .invalidParameter(name: "top_logprobs", reason: "requires logprobs: true")
        }
        var conversation = try ChatConversation(dto)
        var grammar = try StructuredOutput.grammar(dto.structured)
        var grammarTrigger: String?
        let (name, loaded) = try resolve(dto.model)
        let format = try chatFormat(loaded)
        var tools: ToolCalling?
        if case .list(let list)? = conversation.tools {
            // The adapters' built-in formats have no tool syntax of their own.
            var source: String?
            if loaded.chatTemplate != nil { source = try? format.template(withTools: true).source }
            let calling = try ToolCalling(tools: list, choice: dto.toolChoice?.value, parallel: dto.toolOptions.parallelToolCalls,
                                          templateSource: source)
            if calling.constrainsDecoding {
                if grammar != nil {
                    throw .invalidParameter(name: "tool_choice", reason: "a required tool call cannot be combined with response_format, json_schema or grammar")
                }
                grammar = try calling.callGrammar()
            } else if grammar == nil, let trigger = calling.lazyTrigger {
                // The model may answer in text; a call it starts is held to the tools' grammar.
                grammar = try calling.callGrammar()
                grammarTrigger = trigger
            }
            if calling.parsesReplies {
                if calling.family.describesToolsInSystemMessage { conversation.describeTools(calling.systemInstructions()) }
                tools = calling
            }
        }
        let prompt = try conversation.render(with: format)
        let reasoning = try ReasoningParsing(format: dto.reasoningFormat, templateSource: loaded.chatTemplate == nil ? nil : try? format.template(withTools: tools != nil).source,
                                             prompt: prompt)
        var fields = sampling.fields(maxTokens: dto.maxCompletionTokens)
        fields.logitBias = try LogitBiasForms.openAI(dto.choiceFields.logitBias, vocabularySize: loaded.model.vocabularySize)
        var generation = try build(name: name, loaded: loaded, prompt: .text(prompt),
                                   addSpecialTokens: format.tokenizeWithSpecialTokens, fields: fields,
                                   extraStops: format.stopStrings, stream: sampling.stream ?? false,
                                   includeUsage: sampling.streamOptions?.includeUsage ?? false)
        generation.choices = choices
        generation.grammar = grammar
        generation.grammarTrigger = grammarTrigger
        generation.tools = tools
        generation.reasoning = reasoning
        // Call markers may be special tokens ([TOOL_CALLS], <|python_tag|>): the parser needs them as text.
        if tools?.family.markersAreSpecialTokens == true { generation.parameters.skipSpecialTokens = false }
        return generation
    }

    /// llama.cpp's `/apply-template`: the prompt a chat request would generate from (tools may be rendered).
    func applyTemplate(_ dto: ChatCompletionRequestDTO) throws(APIError) -> String {
        let conversation = try ChatConversation(dto)
        let (_, loaded) = try resolve(dto.model)
        return try conversation.render(with: try chatFormat(loaded))
    }

    private func chatFormat(_ loaded: LoadedModel) throws(APIError) -> ModelChatTemplate {
        do { return try loaded.chatFormat() } catch { throw .internalError("the model's chat format cannot be used: \(error)") }
    }

    /// One validated generation per prompt, in order (llama.cpp answers several prompts with a list).
    func llamaCompletion(_ dto: LlamaCompletionRequestDTO) throws(APIError) -> [ValidatedGeneration] {
        guard let prompts = dto.prompt?.prompts else { throw .invalidParameter(name: "prompt", reason: "is required") }
        try ChoiceOptions.checkPromptCount(prompts.count)
        let nPredict = dto.nPredict ?? dto.maxTokens
        if let n = nPredict, n < -1 {
            throw .invalidParameter(name: dto.nPredict != nil ? "n_predict" : "max_tokens", reason: "must be -1 (no limit) or >= 0")
        }
        var fields = SamplingFields(
            // n_predict -1: generate until the context is full; 0 is answered with one token less than nothing,
            // so it is treated like OpenAI's minimum of one.
            maxTokens: nPredict.map { $0 == -1 ? Int.max : max($0, 1) }, temperature: dto.temperature,
            topP: dto.topP, topK: dto.topK, minP: dto.minP, repetitionPenalty: dto.repeatPenalty,
            repetitionWindow: dto.repeatLastN, frequencyPenalty: dto.frequencyPenalty,
            presencePenalty: dto.presencePenalty, seed: dto.seed, stop: dto.stop?.values, ignoreEOS: dto.ignoreEos,
            wireNames: ["max_tokens": "n_predict", "repetition_penalty": "repeat_penalty"])
        let (name, loaded) = try resolve(dto.model)
        fields.logitBias = try LogitBiasForms.llamaCpp(dto.logitBias, tokenizer: loaded.tokenizer,
                                                       vocabularySize: loaded.model.vocabularySize)
        let grammar = try dto.structured.map { s throws(APIError) in try StructuredOutput.grammar(s) }
        let probabilities = try ChoiceOptions.alternatives(dto.nProbs, name: "n_probs")
        var generations: [ValidatedGeneration] = []
        for (index, prompt) in prompts.enumerated() {
            var generation = try build(name: name, loaded: loaded, prompt: prompt, fields: fields, extraStops: [],
                                       stream: dto.stream ?? false, includeUsage: false,
                                       promptName: prompts.count > 1 ? "prompt[\(index)]" : "prompt")
            generation.grammar = grammar ?? nil
            generation.choices.logprobs = probabilities == 0 ? nil : probabilities
            generations.append(generation)
        }
        return generations
    }

    // MARK: - Shared

    func resolve(_ name: String?) throws(APIError) -> (String, LoadedModel) {
        let requested = (name?.isEmpty == false ? name : nil) ?? registry.defaultName ?? ""
        do {
            let loaded = try registry.model(named: requested)
            return (registry.canonicalName(requested) ?? requested, loaded)
        } catch { throw APIError(error) }
    }

    private func build(name: String, loaded: LoadedModel, prompt: PromptForm, addSpecialTokens: Bool = true,
                       fields: SamplingFields, extraStops: [String], stream: Bool,
                       includeUsage: Bool, promptName: String = "prompt") throws(APIError) -> ValidatedGeneration {
        let tokenizer = loaded.tokenizer
        let text: String
        let tokens: [Int]
        switch prompt {
        case .text(let value):
            text = value
            if let atLeast = PromptLengthGuard.tokensOfOversizedPrefix(value, loaded: loaded) {
                throw .contextExceeded(promptTokens: atLeast, contextLength: loaded.model.maxContextLength)
            }
            tokens = tokenizer.encode(value, addSpecialTokens: addSpecialTokens)
        case .tokens(let ids):
            tokens = try PromptTokens.checked(ids, vocabularySize: loaded.model.vocabularySize, name: promptName)
            text = tokenizer.decode(ids, skipSpecialTokens: false)
        case .mixed(let pieces):
            tokens = try PromptTokens.mixed(pieces, loaded: loaded, addSpecialTokens: addSpecialTokens, name: promptName)
            text = tokenizer.decode(tokens, skipSpecialTokens: false)
        }
        guard !tokens.isEmpty else { throw .invalidParameter(name: promptName, reason: "must not be empty") }
        let context = loaded.model.maxContextLength
        guard tokens.count < context else { throw .contextExceeded(promptTokens: tokens.count, contextLength: context) }

        var parameters = GenerationParameters(defaults: loaded.generationConfig)
        defaults[name]?.apply(to: &parameters)
        let rename = { (wire: String) in fields.wireNames[wire] ?? wire }
        func float(_ value: Double?, _ wire: String) throws(APIError) -> Float? {
            guard let value else { return nil }
            guard value.isFinite else { throw .invalidParameter(name: rename(wire), reason: "must be a finite number") }
            return Float(value)
        }
        if let value = fields.maxTokens {
            guard value >= 1 else { throw .invalidParameter(name: rename("max_tokens"), reason: "must be at least 1") }
            parameters.maxNewTokens = value
        }
        if let value = try float(fields.temperature, "temperature") { parameters.temperature = value }
        if let value = try float(fields.topP, "top_p") { parameters.topP = value }
        if let value = fields.topK { parameters.topK = value }
        if let value = try float(fields.minP, "min_p") { parameters.minP = value }
        if let value = try float(fields.repetitionPenalty, "repetition_penalty") { parameters.repetitionPenalty = value }
        if let value = fields.repetitionWindow {
            // llama.cpp: -1 = whole context, 0 = disabled.
            switch value {
            case -1: parameters.repetitionPenaltyWindow = nil
            case 0: parameters.repetitionPenalty = 1
            default: parameters.repetitionPenaltyWindow = value
            }
        }
        if let value = try float(fields.frequencyPenalty, "frequency_penalty") { parameters.frequencyPenalty = value }
        if let value = try float(fields.presencePenalty, "presence_penalty") { parameters.presencePenalty = value }
        if let seed = fields.seed { parameters.seed = seed == -1 ? nil : UInt64(bitPattern: seed) }
        if let stop = fields.stop { parameters.stopStrings = stop }
        for stop in extraStops where !parameters.stopStrings.contains(stop) { parameters.stopStrings.append(stop) }
        if let ignore = fields.ignoreEOS { parameters.ignoreEOS = ignore }
        parameters.logitBias = fields.logitBias
        // A request may ask for more than fits; it then ends with finish_reason "length" at the context edge.
        parameters.maxNewTokens = min(parameters.maxNewTokens, context - tokens.count)
        let validated: ValidatedParameters
        do { validated = try parameters.validated() } catch {
            throw .invalidParameter(name: rename(error.name), reason: error.reason)
        }
        return ValidatedGeneration(modelName: name, model: loaded, prompt: text, promptTokens: tokens,
                                   parameters: validated, stream: stream, includeUsage: includeUsage)
    }
}
