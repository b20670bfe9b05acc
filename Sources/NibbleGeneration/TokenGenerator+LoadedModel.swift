import NibbleModels

extension TokenGenerator {
    /// A generator over a loaded model with a fresh cache sized for the prompt plus `maxNewTokens`
    /// (capped at the model's context). The parameters are validated here, the one check they get.
    public init(loaded: LoadedModel, promptTokens: [Int], parameters settings: GenerationParameters) throws(GenerationError) {
        let parameters: ValidatedParameters
        do { parameters = try settings.validated() } catch { throw .invalidParameter(error) }
        let capacity = min(loaded.model.maxContextLength, promptTokens.count + max(parameters.maxNewTokens, 1))
        try self.init(model: loaded.model, cache: loaded.model.makeCache(capacity: capacity),
                      tokenizer: loaded.tokenizer, promptTokens: promptTokens, parameters: parameters,
                      eosTokenIds: loaded.eosTokenIds)
    }

    /// Encodes `prompt` with the model's tokenizer (BOS as its config asks) and builds a generator for it.
    public init(loaded: LoadedModel, prompt: String, parameters: GenerationParameters) throws(GenerationError) {
        try self.init(loaded: loaded, promptTokens: loaded.tokenizer.encode(prompt, addSpecialTokens: true),
                      parameters: parameters)
    }
}
