import NibbleGeneration
import NibbleGrammar
import NibbleModels

/// One generation the engine should run: a ready model, the encoded prompt and validated parameters.
public struct GenerationRequest: Sendable {
    /// The name the request used (for stats).
    public var modelName: String
    public var model: LoadedModel
    public var promptTokens: [Int]
    public var parameters: GenerationParameters
    /// Which endpoint asked (for stats and logs), e.g. "/v1/completions".
    public var label: String
    /// A grammar the output must match (structured output); the engine masks every step with it.
    public var grammar: Grammar?

    public init(modelName: String, model: LoadedModel, promptTokens: [Int], parameters: GenerationParameters,
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
