import NibbleFormats

/// Sampling and stopping settings for one generation, with the meaning Hugging Face `generate` gives them.
///
/// Build one, then call `validated()`: every consumer (`TokenGenerator`, `GenerationState`, the engine) takes only
/// the `ValidatedParameters` it returns, so out-of-range settings are reported once, by name, where a request is
/// read, and no later stage checks them again.
public struct GenerationParameters: Sendable, Equatable {
    /// Most tokens to generate (`max_new_tokens`, `max_tokens`, `n_predict`).
    public var maxNewTokens: Int = 128
    /// `false` means greedy decoding whatever the other sampling settings say (`do_sample`).
    public var doSample: Bool = true
    /// Divides the logits; 0 means greedy.
    public var temperature: Float = 1.0
    /// Keep only the `topK` most likely tokens; 0 disables.
    public var topK: Int = 0
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP`; 1 disables.
    public var topP: Float = 1.0
    /// Drop tokens less likely than `minP` times the most likely one; 0 disables.
    public var minP: Float = 0
    /// HF repetition penalty over prompt and generated tokens; 1 disables.
    public var repetitionPenalty: Float = 1.0
    /// Only the last `repetitionPenaltyWindow` tokens are penalized (llama.cpp `repeat_last_n`); nil = all (HF).
    public var repetitionPenaltyWindow: Int?
    /// OpenAI frequency penalty: subtracted once per occurrence in the generated tokens.
    public var frequencyPenalty: Float = 0
    /// OpenAI presence penalty: subtracted once if the token was generated at all.
    public var presencePenalty: Float = 0
    /// Seed of the sampler; nil draws one from the system generator.
    public var seed: UInt64?
    /// Strings that end generation; they are not part of the output.
    public var stopStrings: [String] = []
    /// Token ids that end generation in addition to the model's EOS ids.
    public var stopTokenIds: [Int] = []
    /// Keep generating past EOS (llama.cpp `ignore_eos`).
    public var ignoreEOS: Bool = false
    /// Leave special tokens (`<s>`, `</s>`) out of the text.
    public var skipSpecialTokens: Bool = true
    /// Added to the logits of chosen tokens before sampling (`logit_bias`); `-infinity` bans a token.
    public var logitBias: [Int: Float] = [:]

    public init() {}

    /// Defaults taken from a model's `generation_config.json`, falling back to HF's defaults.
    public init(defaults config: GenerationConfig) {
        self.init()
        if let value = config.doSample { doSample = value }
        if let value = config.temperature { temperature = value }
        if let value = config.topK { topK = value }
        if let value = config.topP { topP = value }
        if let value = config.minP { minP = value }
        if let value = config.repetitionPenalty { repetitionPenalty = value }
        if let value = config.maxNewTokens { maxNewTokens = value }
    }

    /// Whether the next token is the arg-max (no randomness).
    /// A temperature below the smallest normal float is its limit, greedy: dividing by it overflows.
    public var isGreedy: Bool { !doSample || temperature < Float.leastNormalMagnitude }

    /// The smallest accepted `repetition_penalty`: a logit of 100 divided by it stays far from overflow.
    public static let minimumRepetitionPenalty: Float = 1e-6

    /// Checks every field; the error names the offending parameter with the wire name users know.
    /// Bounds that keep stop-string matching cheap per token (every pending byte is compared with each string).
    public static let maxStopStrings = 64
    public static let maxStopStringBytes = 1024

    public func validated() throws(InvalidParameter) -> ValidatedParameters {
        func check(_ condition: Bool, _ name: String, _ reason: String) throws(InvalidParameter) {
            if !condition { throw InvalidParameter(name: name, reason: reason) }
        }
        try check(maxNewTokens >= 1, "max_tokens", "must be at least 1")
        try check(temperature.isFinite && temperature >= 0, "temperature", "must be a number >= 0")
        try check(topK >= 0, "top_k", "must be >= 0 (0 disables)")
        try check(topP.isFinite && topP > 0 && topP <= 1, "top_p", "must be in (0, 1]")
        try check(minP.isFinite && minP >= 0 && minP <= 1, "min_p", "must be in [0, 1]")
        try check(repetitionPenalty.isFinite && repetitionPenalty >= Self.minimumRepetitionPenalty, "repetition_penalty",
                  "must be >= \(Self.minimumRepetitionPenalty) (smaller values overflow the logits they divide)")
        try check((repetitionPenaltyWindow ?? 0) >= 0, "repeat_last_n", "must be >= 0")
        try check(frequencyPenalty.isFinite && abs(frequencyPenalty) <= 2, "frequency_penalty", "must be in [-2, 2]")
        try check(presencePenalty.isFinite && abs(presencePenalty) <= 2, "presence_penalty", "must be in [-2, 2]")
        try check(!stopStrings.contains(""), "stop", "stop strings must not be empty")
        try check(stopStrings.count <= Self.maxStopStrings, "stop", "at most \(Self.maxStopStrings) stop strings are allowed")
        try check(stopStrings.allSatisfy { $0.utf8.count <= Self.maxStopStringBytes }, "stop",
                  "each stop string must be at most \(Self.maxStopStringBytes) bytes")
        try check(stopTokenIds.allSatisfy { $0 >= 0 }, "stop_token_ids", "must be >= 0")
        try check(logitBias.allSatisfy { $0.key >= 0 && ($0.value.isFinite || $0.value == -.infinity) }, "logit_bias",
                  "token ids must be >= 0 and biases finite numbers (or a ban)")
        return ValidatedParameters(self)
    }
}

/// Generation settings that passed `GenerationParameters.validated()`, the only way to make one. Fields read
/// through it as through `GenerationParameters`; the few any value of which is valid can be changed in place.
@dynamicMemberLookup
public struct ValidatedParameters: Sendable, Equatable {
    /// The checked settings.
    public private(set) var values: GenerationParameters

    fileprivate init(_ values: GenerationParameters) {
        self.values = values
    }

    public subscript<Value>(dynamicMember keyPath: KeyPath<GenerationParameters, Value>) -> Value {
        values[keyPath: keyPath]
    }

    /// The sampler's seed (any value is valid; nil draws one).
    public var seed: UInt64? {
        get { values.seed }
        set { values.seed = newValue }
    }

    /// Whether special tokens are left out of the text (either way is valid).
    public var skipSpecialTokens: Bool {
        get { values.skipSpecialTokens }
        set { values.skipSpecialTokens = newValue }
    }
}

/// A generation parameter outside its range, named as on the wire (`top_p`, `max_tokens`).
public struct InvalidParameter: Error, Equatable, CustomStringConvertible {
    public var name: String
    public var reason: String

    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }

    public var description: String { "'\(name)' \(reason)" }
}
