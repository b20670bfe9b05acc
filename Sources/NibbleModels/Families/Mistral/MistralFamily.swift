/// Mistral: the LLaMA block without biases, with sliding-window attention in every layer.
public enum MistralFamily: ModelFamily {
    public static let name = "mistral"
    public static let modelTypes = ["mistral"]
    public static let architectures = ["MistralForCausalLM"]
    /// llama.cpp writes Mistral checkpoints as "llama"; this entry is for files that say "mistral".
    public static let ggufArchitectures = ["mistral"]

    /// transformers' `MistralForCausalLM` module names: its block is LLaMA's, named alike.
    public static let checkpointLayout = LlamaFamily.checkpointLayout

    public static func layout(_ configuration: MistralConfiguration) -> DecoderLayout { checkpointLayout }

    public static func architecture(_ c: MistralConfiguration) throws -> DecoderArchitecture {
        var a = try DecoderArchitecture(config: c.base, headDim: c.headDim, rope: c.rope)
        a.windows = Array(repeating: c.slidingWindow, count: a.layerCount)
        return a
    }
}
