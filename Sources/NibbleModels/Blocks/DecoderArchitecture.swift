import NibbleFormats

/// The shape of a pre-norm decoder-only transformer with rotary attention and a SwiGLU MLP, and the variations
/// model families make on it. A family turns its config.json into one of these; `DecoderModel` runs it.
public struct DecoderArchitecture: Sendable, Equatable {
    /// Which projections carry a bias vector.
    public struct Biases: Sendable, Equatable {
        public var query: Bool, key: Bool, value: Bool, output: Bool
        /// gate, up and down projections.
        public var mlp: Bool

        public init(query: Bool = false, key: Bool = false, value: Bool = false, output: Bool = false, mlp: Bool = false) {
            self.query = query
            self.key = key
            self.value = value
            self.output = output
            self.mlp = mlp
        }
    }

    public var hiddenSize: Int
    /// MLP width.
    public var intermediateSize: Int
    public var layerCount: Int
    public var heads: Int
    public var kvHeads: Int
    /// Width of one attention head (not necessarily hidden / heads).
    public var headDim: Int
    public var vocabSize: Int
    public var maxPositions: Int
    public var rmsNormEps: Float
    public var rope: RopeParameters
    /// Sliding attention window of each layer (nil: full causal attention); `layerCount` entries.
    public var windows: [Int?]
    public var biases: Biases
    /// Whether queries and keys go through an RMSNorm per head before the rotation.
    public var normalizesQueriesAndKeys: Bool
    /// Whether the output projection reuses the embeddings when the checkpoint has no lm_head.
    public var tiedEmbeddings: Bool

    /// The sizes every family shares, from config.json; the family sets the rest.
    public init(config: ModelConfig, headDim: Int, rope: RopeParameters) throws {
        hiddenSize = config.hiddenSize
        intermediateSize = config.intermediateSize
        layerCount = config.numHiddenLayers
        heads = config.numAttentionHeads
        kvHeads = config.numKeyValueHeads
        self.headDim = headDim
        vocabSize = config.vocabSize
        maxPositions = config.maxPositionEmbeddings
        rmsNormEps = config.rmsNormEps
        self.rope = rope
        windows = Array(repeating: nil, count: config.numHiddenLayers)
        biases = Biases()
        normalizesQueriesAndKeys = false
        tiedEmbeddings = config.tieWordEmbeddings
        guard headDim > 0, headDim % 2 == 0 else {
            throw FormatError.invalidConfig(path: config.path, reason: "head_dim must be positive and even for rotary embeddings, got \(headDim)")
        }
    }

    /// The widest window when every layer slides (nil when any layer attends to the whole sequence): positions
    /// older than that are seen by no layer again, so their KV blocks can be given back.
    public var windowOfEveryLayer: Int? {
        guard !windows.isEmpty, windows.allSatisfy({ $0 != nil }) else { return nil }
        return windows.compactMap { $0 }.max()
    }

    /// Width of all query heads.
    var queryDim: Int { heads * headDim }
    /// Width of all key (or value) heads.
    var kvDim: Int { kvHeads * headDim }
}

extension DecoderArchitecture {
    /// Per-layer windows from transformers' `layer_types` ("full_attention" / "sliding_attention"): sliding
    /// layers see the last `slidingWindow` positions (the query's own included).
    static func windows(layerTypes: [String], slidingWindow: Int?, layerCount: Int, path: String) throws -> [Int?] {
        guard layerTypes.count == layerCount else {
            throw FormatError.invalidConfig(path: path, reason: "layer_types has \(layerTypes.count) entries for \(layerCount) layers")
        }
        return try layerTypes.map { type in
            switch type {
            case "full_attention":
                return nil
            case "sliding_attention":
                guard let slidingWindow else {
                    throw FormatError.invalidConfig(path: path, reason: "layer_types asks for sliding_attention, but no sliding_window is in effect")
                }
                return slidingWindow
            default:
                throw FormatError.invalidConfig(path: path, reason: "layer type '\(type)' is not supported (full_attention, sliding_attention)")
            }
        }
    }

    /// Per-layer windows by transformers' rule for configs with `use_sliding_window` (default false),
    /// `max_window_layers` (default 28) and `layer_types`: explicit `layer_types` win; otherwise layers from
    /// `max_window_layers` on slide when `use_sliding_window` is set. `sliding_window` counts only when
    /// `use_sliding_window` is set.
    static func layerWindows(config: ModelConfig, fields: JSONFieldReader) throws -> [Int?] {
        let useSlidingWindow = try fields.optionalBool("use_sliding_window") ?? false
        let maxWindowLayers = try fields.optionalInt("max_window_layers") ?? 28
        let window = useSlidingWindow ? try slidingWindow(fields) : nil
        let layers = config.numHiddenLayers
        let types = try fields.optionalStrings("layer_types")
            ?? (0..<layers).map { useSlidingWindow && $0 >= maxWindowLayers ? "sliding_attention" : "full_attention" }
        return try windows(layerTypes: types, slidingWindow: window, layerCount: layers, path: fields.path)
    }

    /// A `sliding_window` field: nil when absent or null, else a positive width.
    static func slidingWindow(_ fields: JSONFieldReader) throws -> Int? {
        guard let window = try fields.optionalInt("sliding_window") else { return nil }
        guard window > 0 else {
            throw FormatError.invalidConfig(path: fields.path, reason: "sliding_window must be positive, got \(window)")
        }
        return window
    }
}
