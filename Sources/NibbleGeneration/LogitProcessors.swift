import Foundation

/// The tokens a sequence holds so far, as processors see them.
public struct TokenHistory: Sendable {
    /// The prompt ids.
    public var prompt: [Int]
    /// Ids generated so far, in order.
    public var generated: [Int]

    public init(prompt: [Int], generated: [Int] = []) {
        self.prompt = prompt
        self.generated = generated
    }
}

/// Rewrites next-token logits in place. Tokens set to `-infinity` can never be sampled.
public protocol LogitProcessor: Sendable {
    func process(_ logits: inout [Float], history: TokenHistory)
}

// MARK: - Penalties (applied to raw logits, before warping)

/// Hugging Face `RepetitionPenaltyLogitsProcessor`: for every id already in prompt + generated text,
/// a negative logit is multiplied by the penalty and a positive one divided by it (once per id).
public struct RepetitionPenaltyProcessor: LogitProcessor {
    public let penalty: Float
    /// Only the last `window` tokens count (llama.cpp `repeat_last_n`); nil = the whole sequence (HF).
    public let window: Int?

    public init(penalty: Float, window: Int? = nil) {
        self.penalty = penalty
        self.window = window
    }

    public func process(_ logits: inout [Float], history: TokenHistory) {
        var seen = Set<Int>()
        func visit(_ id: Int) {
            guard id >= 0, id < logits.count, seen.insert(id).inserted else { return }
            let logit = logits[id]
            let penalized = logit < 0 ? logit * penalty : logit / penalty
            // Clamped so a tiny penalty cannot turn a logit into an infinity that swamps the softmax.
            logits[id] = penalized.isFinite ? penalized
                : (penalized > 0 ? .greatestFiniteMagnitude : (logit.isFinite ? -.greatestFiniteMagnitude : penalized))
        }
        if let window {
            let total = history.prompt.count + history.generated.count
            let skip = max(0, total - window)
            for (index, id) in history.prompt.enumerated() where index >= skip { visit(id) }
            for (index, id) in history.generated.enumerated() where history.prompt.count + index >= skip { visit(id) }
        } else {
            for id in history.prompt { visit(id) }
            for id in history.generated { visit(id) }
        }
    }
}

/// OpenAI frequency and presence penalties, over generated tokens only:
/// `logit -= count * frequency + (count > 0 ? presence : 0)`.
public struct FrequencyPresencePenaltyProcessor: LogitProcessor {
    public let frequency: Float
    public let presence: Float

    public init(frequency: Float, presence: Float) {
        self.frequency = frequency
        self.presence = presence
    }

    public func process(_ logits: inout [Float], history: TokenHistory) {
        var counts: [Int: Int] = [:]
        for id in history.generated where id >= 0 && id < logits.count { counts[id, default: 0] += 1 }
        for (id, count) in counts {
            logits[id] -= Float(count) * frequency + presence
        }
    }
}

// MARK: - Warpers (shape the distribution sampled from; HF order: temperature, top-k, top-p, min-p)

/// Divides every logit by the temperature (HF `TemperatureLogitsWarper`). With a temperature so small that
/// the division overflows, the result is its limit: the largest logits share the whole probability.
public struct TemperatureProcessor: LogitProcessor {
    public let temperature: Float

    public init(temperature: Float) { self.temperature = temperature }

    public func process(_ logits: inout [Float], history: TokenHistory) {
        let overflows = logits.contains { $0.isFinite && ($0 / temperature).isInfinite }
        guard overflows else {
            for i in logits.indices { logits[i] /= temperature }
            return
        }
        guard let best = logits.filter({ !$0.isNaN }).max() else { return }
        for i in logits.indices { logits[i] = logits[i] == best ? 0 : -.infinity }
    }
}

/// Keeps the tokens whose logit is at least the k-th largest (HF `TopKLogitsWarper`: ties at the cut-off stay).
public struct TopKProcessor: LogitProcessor {
    public let k: Int

    public init(k: Int) { self.k = k }

    public func process(_ logits: inout [Float], history: TokenHistory) {
        let k = min(max(self.k, 1), logits.count)
        guard k < logits.count else { return }
        let threshold = logits.sorted(by: >)[k - 1]
        for i in logits.indices where logits[i] < threshold { logits[i] = -.infinity }
    }
}

/// Nucleus filtering exactly as HF `TopPLogitsWarper`: sort ascending, remove the tokens whose cumulative
/// probability is `<= 1 - p`, always keeping the most likely one.
public struct TopPProcessor: LogitProcessor {
    public let p: Float

    public init(p: Float) { self.p = p }

    public func process(_ logits: inout [Float], history: TokenHistory) {
        guard p < 1, logits.count > 1 else { return }
        let probabilities = softmax(logits)
        // Ascending by logit; among equal logits the higher id goes first, so lower ids survive a tie.
        let order = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] < logits[$1] : $0 > $1 }
        var cumulative = 0.0
        let limit = 1.0 - Double(p)
        for (position, id) in order.enumerated() where position < order.count - 1 {
            cumulative += probabilities[id]
            if cumulative <= limit { logits[id] = -.infinity } else { break }
        }
    }
}

/// HF `MinPLogitsWarper`: removes tokens whose probability is below `minP * max probability`.
public struct MinPProcessor: LogitProcessor {
    public let minP: Float

    public init(minP: Float) { self.minP = minP }

    public func process(_ logits: inout [Float], history: TokenHistory) {
        guard minP > 0 else { return }
        let probabilities = softmax(logits)
        let threshold = Double(minP) * (probabilities.max() ?? 0)
        for i in logits.indices where probabilities[i] < threshold { logits[i] = -.infinity }
    }
}

// MARK: - Chain

/// The processors a parameter set implies, in HF order, and the sampler that follows them.
///
/// Penalties and biases rewrite each logit on its own; the warpers after them (temperature, top-k, top-p,
/// min-p) shape the distribution sampled from, and the truncating ones look at all of it. A grammar's mask
/// therefore goes between the two: truncating first could leave no token the grammar allows.
public struct LogitProcessorChain: Sendable {
    /// Penalties and logit biases, then the warpers: everything `process` runs, in order.
    public var processors: [any LogitProcessor] { penalties + warpers }
    /// Processors that rewrite each logit on its own (penalties, biases).
    let penalties: [any LogitProcessor]
    /// Temperature and the truncations, run on the distribution the sampler draws from.
    let warpers: [any LogitProcessor]
    /// Whether a warper drops tokens by looking at the others (top-k, top-p, min-p), so that masking tokens
    /// before or after it gives different results.
    public let truncates: Bool

    public init(_ processors: [any LogitProcessor]) {
        penalties = processors
        warpers = []
        truncates = false
    }

    /// Penalties and logit biases first; warpers only when sampling (greedy decoding ignores them, as HF does).
    public init(parameters: GenerationParameters) {
        var list: [any LogitProcessor] = []
        if parameters.repetitionPenalty != 1 {
            list.append(RepetitionPenaltyProcessor(penalty: parameters.repetitionPenalty,
                                                   window: parameters.repetitionPenaltyWindow))
        }
        if parameters.frequencyPenalty != 0 || parameters.presencePenalty != 0 {
            list.append(FrequencyPresencePenaltyProcessor(frequency: parameters.frequencyPenalty,
                                                          presence: parameters.presencePenalty))
        }
        if !parameters.logitBias.isEmpty { list.append(LogitBiasProcessor(biases: parameters.logitBias)) }
        var shaping: [any LogitProcessor] = []
        if !parameters.isGreedy {
            if parameters.temperature != 1 { shaping.append(TemperatureProcessor(temperature: parameters.temperature)) }
            if parameters.topK > 0 { shaping.append(TopKProcessor(k: parameters.topK)) }
            if parameters.topP < 1 { shaping.append(TopPProcessor(p: parameters.topP)) }
            if parameters.minP > 0 { shaping.append(MinPProcessor(minP: parameters.minP)) }
        }
        penalties = list
        warpers = shaping
        truncates = shaping.contains { !($0 is TemperatureProcessor) }
    }

    /// Every processor, in order.
    public func process(_ logits: inout [Float], history: TokenHistory) {
        penalize(&logits, history: history)
        warp(&logits, history: history)
    }

    /// The penalties and biases alone.
    public func penalize(_ logits: inout [Float], history: TokenHistory) {
        for processor in penalties { processor.process(&logits, history: history) }
    }

    /// The warpers alone.
    public func warp(_ logits: inout [Float], history: TokenHistory) {
        for processor in warpers { processor.process(&logits, history: history) }
    }
}

/// Softmax in double precision; `-infinity` logits get probability 0.
func softmax(_ logits: [Float]) -> [Double] {
    guard let maxLogit = logits.max(), maxLogit > -.infinity else {
        return [Double](repeating: logits.isEmpty ? 0 : 1 / Double(logits.count), count: logits.count)
    }
    let m = Double(maxLogit)
    var result = logits.map { $0 == -.infinity ? 0 : exp(Double($0) - m) }
    let sum = result.reduce(0, +)
    for i in result.indices { result[i] /= sum }
    return result
}
