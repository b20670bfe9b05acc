import NibbleGeneration
import NibbleModels

extension GenerationValidator {
    /// The settings a request starts from before its own fields: the checkpoint's `generation_config.json`,
    /// then the configured `defaults` of the model.
    func defaultParameters(name: String, loaded: LoadedModel) -> GenerationParameters {
        var parameters = GenerationParameters(defaults: loaded.generationConfig)
        defaults[name]?.apply(to: &parameters)
        return parameters
    }
}
