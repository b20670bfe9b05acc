/// What a generation reports, in order: one `.token` per sampled token, then exactly one `.done`.
///
/// Streaming responses serialize the events as they come; non-streaming responses fold them
/// (`GenerationResult(folding:)`), so both carry the same text.
public enum GenerationEvent: Sendable, Equatable {
    /// A sampled token and the text it made releasable (possibly empty: partial UTF-8 or a possible stop
    /// string is held back until it is decided).
    case token(id: Int, text: String)
    /// The log-probability of the token the next `.token` event carries, when the request asked for logprobs.
    case logprobs(TokenLogprob)
    /// Log-probabilities of prompt tokens 1, 2, … (the first has no context to be predicted from), before any
    /// `.token` event, when the request asked to score its prompt.
    case promptLogprobs([TokenLogprob])
    /// The end of generation; always the last event.
    case done(FinishReason, Usage, Timings)
}

/// Why generation ended.
public enum FinishReason: Sendable, Equatable {
    /// An end condition of the output itself.
    case stop(StopTrigger)
    /// `max_new_tokens` (or the context window) was reached.
    case length
    /// The consumer asked to stop (client went away).
    case cancelled
    /// The server is shutting down and ended the generation before it was done.
    case shutdown

    /// OpenAI `finish_reason`. A shutdown reports "length": OpenAI's one reason for an answer cut short, which
    /// every client decodes (a value outside OpenAI's set would break clients with typed enums).
    public var openAIName: String {
        switch self {
        case .stop, .cancelled: return "stop"
        case .length, .shutdown: return "length"
        }
    }
}

/// Which end condition matched.
public enum StopTrigger: Sendable, Equatable {
    /// An EOS (or configured stop) token id.
    case eos(tokenId: Int)
    /// A stop string; it is not part of the output.
    case string(String)
    /// The structured output's grammar is complete: nothing but the end could follow.
    case grammarComplete
}

/// Token counts, as OpenAI's `usage`.
public struct Usage: Sendable, Equatable, Codable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens served from the prefix cache (OpenAI `prompt_tokens_details.cached_tokens`).
    public var cachedTokens: Int = 0
    public var totalTokens: Int { promptTokens + completionTokens }

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}

/// Measured durations, as llama.cpp's `timings`.
public struct Timings: Sendable, Equatable, Codable {
    /// Prompt tokens run through prefill.
    public var promptTokens: Int
    /// Wall time of prefill, milliseconds.
    public var promptMilliseconds: Double
    /// Tokens generated.
    public var predictedTokens: Int
    /// Wall time from the end of prefill to the last token, milliseconds.
    public var predictedMilliseconds: Double
    /// Prompt tokens whose keys and values came from the prefix cache instead of being computed (llama.cpp
    /// `cache_n`, OpenAI `prompt_tokens_details.cached_tokens`).
    public var cachedTokens: Int = 0

    public init(promptTokens: Int, promptMilliseconds: Double, predictedTokens: Int, predictedMilliseconds: Double) {
        self.promptTokens = promptTokens
        self.promptMilliseconds = promptMilliseconds
        self.predictedTokens = predictedTokens
        self.predictedMilliseconds = predictedMilliseconds
    }

    public var promptPerTokenMilliseconds: Double { promptTokens > 0 ? promptMilliseconds / Double(promptTokens) : 0 }
    public var promptPerSecond: Double { promptMilliseconds > 0 ? Double(promptTokens) * 1000 / promptMilliseconds : 0 }
    public var predictedPerTokenMilliseconds: Double {
        predictedTokens > 0 ? predictedMilliseconds / Double(predictedTokens) : 0
    }
    public var predictedPerSecond: Double {
        predictedMilliseconds > 0 ? Double(predictedTokens) * 1000 / predictedMilliseconds : 0
    }
}

/// A whole generation folded from its events (what a non-streaming response returns).
public struct GenerationResult: Sendable, Equatable {
    public var text: String = ""
    public var tokens: [Int] = []
    public var finishReason: FinishReason = .cancelled
    public var usage = Usage(promptTokens: 0, completionTokens: 0)
    public var timings = Timings(promptTokens: 0, promptMilliseconds: 0, predictedTokens: 0, predictedMilliseconds: 0)
    /// Log-probabilities of the generated tokens, when asked for.
    public var logprobs: [TokenLogprob] = []
    /// Log-probabilities of prompt tokens 1, 2, …, when asked for.
    public var promptLogprobs: [TokenLogprob]?

    public init() {}

    /// Adds one event.
    public mutating func fold(_ event: GenerationEvent) {
        switch event {
        case .token(let id, let piece):
            tokens.append(id)
            text += piece
        case .logprobs(let logprob):
            logprobs.append(logprob)
        case .promptLogprobs(let scores):
            promptLogprobs = scores
        case .done(let reason, let usage, let timings):
            finishReason = reason
            self.usage = usage
            self.timings = timings
        }
    }

    /// Folds every event of a stream.
    public init<S: AsyncSequence>(folding events: S) async throws where S.Element == GenerationEvent {
        self.init()
        for try await event in events { fold(event) }
    }
}
