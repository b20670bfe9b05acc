import NibbleGeneration
import NibbleGrammar
import NibbleModels

/// One generation the engine should run: a ready model, the encoded prompt and validated parameters.
public struct GenerationRequest: Sendable {
    /// The name the request used (for stats).
    public var modelName: String
    public var model: LoadedModel
    public var promptTokens: [Int]
    public var parameters: ValidatedParameters
    /// Which endpoint asked (for stats and logs), e.g. "/v1/completions".
    public var label: String
    /// Alternatives reported with each generated token's log-probability (`.logprobs` events); nil: none.
    public var logprobs: Int?
    /// Alternatives reported with each prompt token's log-probability (one `.promptLogprobs` event); nil: the
    /// prompt is not scored. A scored prompt is computed in full: cached prefix blocks cannot give its logits.
    public var promptLogprobs: Int?
    /// False ends the generation once the prompt is processed, generating nothing (echo with `max_tokens` 0).
    public var generates = true
    /// A grammar the output must match (structured output); the engine masks every step with it.
    public var grammar: Grammar?
    /// When set, `grammar` applies only from this text's first occurrence in the output on (the grammar then
    /// matches from the trigger's first byte): tool calls the model may or may not make.
    public var grammarTrigger: String?

    public init(modelName: String, model: LoadedModel, promptTokens: [Int], parameters: ValidatedParameters,
                label: String = "") {
        self.modelName = modelName
        self.model = model
        self.promptTokens = promptTokens
        self.parameters = parameters
        self.label = label
    }

    /// Positions the cache needs: the prompt plus every token that may be generated, within the context.
    public var cacheCapacity: Int {
        let (wanted, overflow) = promptTokens.count.addingReportingOverflow(max(parameters.maxNewTokens, 1))
        return min(model.model.maxContextLength, overflow ? Int.max : wanted)
    }
}
