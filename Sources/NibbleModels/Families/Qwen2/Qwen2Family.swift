/// Qwen2 (and Qwen2.5): the LLaMA block with biases on the query, key and value projections (not the output),
/// usually tied embeddings and a large rotary base; optional sliding windows on the upper layers.
public enum Qwen2Family: ModelFamily {
    public static let name = "qwen2"
    public static let modelTypes = ["qwen2"]
    public static let architectures = ["Qwen2ForCausalLM"]
    public static let ggufArchitectures = ["qwen2"]

    /// transformers' `Qwen2ForCausalLM` module names: its block is LLaMA's, named alike.
    public static let checkpointLayout = LlamaFamily.checkpointLayout

    public static func layout(_ configuration: Qwen2Configuration) -> DecoderLayout { checkpointLayout }

    public static func architecture(_ c: Qwen2Configuration) throws -> DecoderArchitecture {
        var a = try DecoderArchitecture(config: c.base, headDim: c.headDim, rope: c.rope)
        a.biases = .init(query: true, key: true, value: true)
        a.windows = c.windows
        return a
    }
}
