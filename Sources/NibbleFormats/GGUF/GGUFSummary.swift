/// What `nibble inspect` reports about a GGUF file's own description of itself.
public struct GGUFSummary: Sendable, Equatable {
    public var version: Int
    /// `general.architecture`.
    public var architecture: String?
    /// `general.name`.
    public var name: String?
    /// Number of tensors of each ggml type ("Q4_1": 210, "F32": 61, …).
    public var tensorTypeCounts: [String: Int]
    /// `tokenizer.ggml.model` ("llama", "gpt2").
    public var tokenizerModel: String?
    /// `tokenizer.ggml.pre`, for byte-level BPE tokenizers.
    public var tokenizerPre: String?
    /// `<architecture>.context_length`.
    public var contextLength: Int?
    /// Whether the file carries `tokenizer.chat_template`.
    public var hasChatTemplate: Bool
    /// Number of metadata entries.
    public var metadataCount: Int

    /// Reads the summary from a parsed file (entries of another type than expected are left out).
    public init(_ file: GGUFFile) {
        version = file.version
        architecture = file["general.architecture"]?.string
        name = file["general.name"]?.string
        tensorTypeCounts = file.tensors.reduce(into: [:]) { $0[$1.type.description, default: 0] += 1 }
        tokenizerModel = file["tokenizer.ggml.model"]?.string
        tokenizerPre = file["tokenizer.ggml.pre"]?.string
        contextLength = architecture.flatMap { file["\($0).context_length"]?.int }
        hasChatTemplate = file["tokenizer.chat_template"]?.string != nil
        metadataCount = file.metadataKeys.count
    }

    /// "Q4_1 × 210, F32 × 61, Q8_0 × 1", most frequent first.
    public var tensorTypesDescription: String {
        tensorTypeCounts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) × \($0.value)" }
            .joined(separator: ", ")
    }
}
