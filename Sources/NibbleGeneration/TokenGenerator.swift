import Foundation
import NibbleModels
import NibbleTokenizer

/// What the event callback tells the generator after each event.
public enum GenerationControl: Sendable {
    case proceed
    /// Stop at once; the generator reports `.done(.cancelled, …)` and returns.
    case cancel
}

/// Why a generation could not start or run.
public enum GenerationError: Error, Equatable, CustomStringConvertible {
    case emptyPrompt
    /// The prompt leaves no room for even one generated token.
    case promptTooLong(promptTokens: Int, contextLength: Int)
    case invalidParameter(InvalidParameter)
    /// The processed logits of a step held no finite value to pick from (the model produced NaN or infinities).
    case noFiniteLogits(step: Int)
    /// The model's logits were fine, but `logit_bias` banned every token the grammar or the sampler still allowed.
    case everyTokenBanned(step: Int)

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt is empty"
        case .promptTooLong(let promptTokens, let contextLength):
            return "the prompt has \(promptTokens) tokens; the context holds \(contextLength), leaving no room to generate"
        case .invalidParameter(let invalid): return invalid.description
        case .noFiniteLogits(let step): return "step \(step): the model's logits hold no finite value to sample from"
        case .everyTokenBanned(let step):
            return "step \(step): logit_bias bans every token that may come next (with a grammar: every token it allows)"
        }
    }
}

/// Runs one generation synchronously: prefill, then one token per step, reporting `GenerationEvent`s.
///
/// The loop reads top to bottom as the data flows: logits → processors → sampler → streaming detokenizer
/// → stop strings → event. It blocks its thread for the whole generation, so callers run it on a thread of
/// its own (the engine does), never on Swift's cooperative pool.
public struct TokenGenerator {
    public let model: any LanguageModel
    public let cache: KVCache
    public let tokenizer: any Tokenizer
    public let promptTokens: [Int]
    public let parameters: ValidatedParameters
    /// Ids that end generation: the model's EOS ids plus `parameters.stopTokenIds` (unless `ignoreEOS`).
    public let stopTokenIds: Set<Int>

    /// - Parameters:
    ///   - cache: an empty cache for this sequence; generation stops with `.length` when it is full.
    ///   - eosTokenIds: the model's EOS ids (`LoadedModel.eosTokenIds`).
    public init(model: any LanguageModel, cache: KVCache, tokenizer: any Tokenizer, promptTokens: [Int],
                parameters: ValidatedParameters, eosTokenIds: [Int]) throws(GenerationError) {
        guard !promptTokens.isEmpty else { throw .emptyPrompt }
        let capacity = min(cache.capacity - cache.count, model.maxContextLength)
        guard promptTokens.count < capacity else {
            throw .promptTooLong(promptTokens: promptTokens.count, contextLength: min(cache.capacity, model.maxContextLength))
        }
        self.parameters = parameters
        self.model = model
        self.cache = cache
        self.tokenizer = tokenizer
        self.promptTokens = promptTokens
        stopTokenIds = Set(parameters.stopTokenIds + (parameters.ignoreEOS ? [] : eosTokenIds))
    }

    /// Generates until a stop condition, reporting every event to `onEvent`, and returns the folded result.
    ///
    /// `onEvent` returning `.cancel` after a `.token` ends generation with `.cancelled` (the final `.done` is
    /// still reported). Model errors are thrown without a `.done` event.
    @discardableResult
    public func run(_ onEvent: (GenerationEvent) -> GenerationControl) throws -> GenerationResult {
        var result = GenerationResult()
        func report(_ event: GenerationEvent) -> GenerationControl {
            result.fold(event)
            return onEvent(event)
        }
        // Room left in the cache bounds the output as much as max_new_tokens does.
        var state = try GenerationState(
            tokenizer: tokenizer, promptTokens: promptTokens, parameters: parameters,
            eosTokenIds: Array(stopTokenIds), contextLength: min(cache.capacity, model.maxContextLength) - cache.count)

        // MARK: Prefill
        let start = DispatchTime.now()
        var logits = try model.forward(promptTokens, cache: cache, allLogits: false)
        let prefillEnd = DispatchTime.now()

        // MARK: Decode
        while state.finish == nil {
            let event = try state.next(logits: &logits)
            if report(event) == .cancel { state.cancel() }
            if state.finish == nil, case .token(let token, _) = event {
                logits = try model.forward([token], cache: cache, allLogits: false)
            }
        }
        let end = DispatchTime.now()

        let timings = Timings(
            promptTokens: promptTokens.count,
            promptMilliseconds: milliseconds(from: start, to: prefillEnd),
            predictedTokens: state.generated.count,
            predictedMilliseconds: milliseconds(from: prefillEnd, to: end))
        _ = report(state.done(timings: timings))
        return result
    }

    private func milliseconds(from start: DispatchTime, to end: DispatchTime) -> Double {
        Double(end.uptimeNanoseconds - start.uptimeNanoseconds) / 1_000_000
    }
}
