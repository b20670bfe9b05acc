import NibbleModels
import NibbleTokenizer

/// What a prompt's choices ask besides sampling: how many (`n`), log-probabilities, echo.
struct ChoiceOptions: Sendable, Equatable {
    /// Choices per prompt.
    var n = 1
    /// Alternatives reported with each token's log-probability; nil reports none.
    var logprobs: Int?
    /// Return the prompt before the completion (with its tokens' log-probabilities when `logprobs` is set).
    var echo = false
    /// False scores the prompt without generating (`max_tokens: 0` with echo).
    var generates = true

    /// Most choices one request may ask for, over all its prompts (OpenAI's limit for `n`).
    static let maxChoices = 128
    /// Most alternatives per token.
    static let maxAlternatives = 20

    /// `n`, checked against the number of prompts it multiplies.
    static func count(_ n: Int?, prompts: Int) throws(APIError) -> Int {
        let n = n ?? 1
        guard n >= 1 else { throw .invalidParameter(name: "n", reason: "must be at least 1") }
        guard n <= maxChoices / max(1, prompts) else {
            throw .invalidParameter(name: "n", reason: "at most \(maxChoices) choices per request (n × prompts)")
        }
        return n
    }

    /// Several prompts run as one generation each: at most `maxChoices` of them.
    static func checkPromptCount(_ count: Int) throws(APIError) {
        guard count <= maxChoices else {
            throw .invalidParameter(name: "prompt", reason: "at most \(maxChoices) prompts per request, got \(count)")
        }
    }

    /// An alternatives count (`logprobs`, `top_logprobs`, `n_probs`), 0–20.
    static func alternatives(_ value: Int?, name: String) throws(APIError) -> Int? {
        guard let value else { return nil }
        guard (0...maxAlternatives).contains(value) else {
            throw .invalidParameter(name: name, reason: "must be between 0 and \(maxAlternatives)")
        }
        return value
    }

    /// The seed of choice `choice > 0` of a seeded request: a SplitMix64 step away from the request's seed, so
    /// choices differ from each other and a repeated request repeats every one.
    static func derivedSeed(_ seed: UInt64, choice: Int) -> UInt64 {
        var z = seed &+ UInt64(choice) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Prompt token ids from a request: checked against the vocabulary, or assembled from a mixed list.
enum PromptTokens {
    static func checked(_ ids: [Int], vocabularySize: Int, name: String) throws(APIError) -> [Int] {
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw .invalidParameter(name: name, reason: "token id \(bad) is outside the vocabulary (0..<\(vocabularySize))")
        }
        return ids
    }

    /// llama.cpp's mixed prompt: strings are tokenized (special tokens added only when the list starts with
    /// one), ids taken as they are.
    static func mixed(_ pieces: [PromptPiece], loaded: LoadedModel, addSpecialTokens: Bool,
                      name: String) throws(APIError) -> [Int] {
        var tokens: [Int] = []
        for (index, piece) in pieces.enumerated() {
            switch piece {
            case .text(let text):
                tokens += loaded.tokenizer.encode(text, addSpecialTokens: addSpecialTokens && index == 0)
            case .token(let id):
                tokens += try checked([id], vocabularySize: loaded.model.vocabularySize, name: name)
            }
            guard tokens.count < loaded.model.maxContextLength else {
                throw .contextExceeded(promptTokens: tokens.count, contextLength: loaded.model.maxContextLength)
            }
        }
        return tokens
    }
}

/// `logit_bias` in its two wire forms, validated into token id → bias (`-infinity` bans).
enum LogitBiasForms {
    /// OpenAI: `{"token id": bias}` with biases in [-100, 100]; -100 bans the token, as OpenAI documents.
    static func openAI(_ map: [String: Double]?, vocabularySize: Int) throws(APIError) -> [Int: Float] {
        guard let map else { return [:] }
        var biases: [Int: Float] = [:]
        for (key, bias) in map {
            guard let id = Int(key), id >= 0, id < vocabularySize else {
                throw .invalidParameter(name: "logit_bias", reason: "'\(key)' is not a token id of the vocabulary (0..<\(vocabularySize))")
            }
            guard bias.isFinite, (-100...100).contains(bias) else {
                throw .invalidParameter(name: "logit_bias", reason: "the bias of token \(id) must be between -100 and 100")
            }
            biases[id] = bias <= -100 ? -.infinity : Float(bias)
        }
        return biases
    }

    /// llama.cpp: ids or strings (every token of the string gets the bias), a number or `false` (ban).
    static func llamaCpp(_ dto: LlamaLogitBiasDTO?, tokenizer: any Tokenizer,
                         vocabularySize: Int) throws(APIError) -> [Int: Float] {
        guard let dto else { return [:] }
        var biases: [Int: Float] = [:]
        for (target, bias) in dto.entries {
            let value: Float
            switch bias {
            case .ban: value = -.infinity
            case .add(let number):
                guard number.isFinite, abs(number) <= 1e6 else {
                    throw .invalidParameter(name: "logit_bias", reason: "a bias must be a finite number (or false to ban)")
                }
                value = Float(number)
            }
            let ids: [Int]
            switch target {
            case .token(let id):
                guard id >= 0, id < vocabularySize else {
                    throw .invalidParameter(name: "logit_bias", reason: "token id \(id) is outside the vocabulary (0..<\(vocabularySize))")
                }
                ids = [id]
            case .text(let text):
                ids = tokenizer.encode(text, addSpecialTokens: false)
                guard !ids.isEmpty else { throw .invalidParameter(name: "logit_bias", reason: "an empty string has no tokens") }
            }
            for id in ids { biases[id] = value }
        }
        return biases
    }
}
