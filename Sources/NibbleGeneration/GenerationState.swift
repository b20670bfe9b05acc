import NibbleTokenizer

/// One sequence's generation, advanced one token per step by whoever runs the model.
///
/// Each step reads as the data flows: logits → processors → sampler → streaming detokenizer → stop strings →
/// event. `TokenGenerator` drives one state over its own cache; the engine drives many, one row of a batched
/// forward each. Both therefore report identical events for identical logits.
public struct GenerationState {
    public let promptTokens: [Int]
    public let parameters: ValidatedParameters
    /// Ids that end generation: the model's EOS ids plus `parameters.stopTokenIds` (unless `ignoreEOS`).
    public let stopTokenIds: Set<Int>
    /// Most tokens this sequence may generate: `max_new_tokens`, bounded by the room the context leaves.
    public let limit: Int
    /// Why generation ended; nil while it goes on.
    public private(set) var finish: FinishReason?

    private let chain: LogitProcessorChain
    private var sampler: Sampler
    private var detokenizer: StreamingDetokenizer
    private var stops: StopStringMatcher
    private var history: TokenHistory
    /// The grammar the output must match (structured output), if any.
    private var constraint: OutputConstraint?
    /// Whether `logit_bias` bans any token (a bias of `-infinity`).
    private let bans: Bool

    /// - Parameters:
    ///   - contextLength: positions the sequence may fill (prompt plus output).
    ///   - eosTokenIds: the model's EOS ids (`LoadedModel.eosTokenIds`).
    ///   - constraint: a grammar the output must match (structured output).
    public init(tokenizer: any Tokenizer, promptTokens: [Int], parameters: ValidatedParameters, eosTokenIds: [Int],
                contextLength: Int, constraint: OutputConstraint? = nil) throws(GenerationError) {
        guard !promptTokens.isEmpty else { throw .emptyPrompt }
        guard promptTokens.count < contextLength else {
            throw .promptTooLong(promptTokens: promptTokens.count, contextLength: contextLength)
        }
        let validated = parameters
        self.promptTokens = promptTokens
        self.parameters = validated
        stopTokenIds = Set(validated.stopTokenIds + (validated.ignoreEOS ? [] : eosTokenIds))
        limit = min(validated.maxNewTokens, contextLength - promptTokens.count)
        chain = LogitProcessorChain(parameters: validated.values)
        sampler = Sampler(parameters: validated.values)
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: validated.skipSpecialTokens,
                                           context: promptTokens)
        stops = StopStringMatcher(stopStrings: validated.stopStrings)
        history = TokenHistory(prompt: promptTokens)
        self.constraint = constraint
        self.constraint?.bind(stopTokenIds: stopTokenIds)
        bans = validated.values.logitBias.values.contains(-.infinity)
    }

    /// Tokens generated so far.
    public var generated: [Int] { history.generated }

    /// Picks the next token from the logits of the sequence's last position and returns its `.token` event;
    /// `finish` is set when this token ends the generation.
    public mutating func next(logits: inout [Float]) throws(GenerationError) -> GenerationEvent {
        precondition(finish == nil, "the generation has ended")
        // With bans, whether the model or the bans left nothing to pick is told from the logits as they came.
        let modelHadFinite = bans ? logits.contains { $0.isFinite } : false
        let picked: Int?
        if let constraint {
            // The grammar's mask goes between the penalties and the warpers (see `LogitProcessorChain`).
            let chain = chain, history = history
            chain.penalize(&logits, history: history)
            picked = try constraint.pick(&logits, truncates: chain.truncates, using: &sampler) { chain.warp(&$0, history: history) }
        } else {
            chain.process(&logits, history: history)
            picked = sampler.sample(logits)
        }
        guard let token = picked else {
            let step = history.generated.count
            throw modelHadFinite ? .everyTokenBanned(step: step) : .noFiniteLogits(step: step)
        }
        history.generated.append(token)
        var text: String
        if stopTokenIds.contains(token) {
            // The stop token itself is not text; whatever was held back is now final.
            text = stops.flush(after: detokenizer.flush())
            finish = .stop(.eos(tokenId: token))
        } else {
            switch stops.append(detokenizer.append(token)) {
            case .stopped(let before, let stop):
                text = before
                finish = .stop(.string(stop))
            case .text(let released):
                text = released
                let grammarComplete = constraint?.isComplete ?? false
                if history.generated.count >= limit || grammarComplete {
                    switch stops.append(detokenizer.flush()) {
                    case .stopped(let before, let stop):
                        text += before
                        finish = .stop(.string(stop))
                    case .text(let more):
                        text += more + stops.flush()
                        finish = grammarComplete ? .stop(.grammarComplete) : .length
                    }
                }
            }
        }
        return .token(id: token, text: text)
    }

    /// Ends a generation that is still going as cancelled.
    public mutating func cancel() {
        if finish == nil { finish = .cancelled }
    }

    /// The final event: why it ended, token counts and `timings`.
    public func done(timings: Timings) -> GenerationEvent {
        var usage = Usage(promptTokens: promptTokens.count, completionTokens: history.generated.count)
        usage.cachedTokens = timings.cachedTokens
        return .done(finish ?? .cancelled, usage, timings)
    }
}

extension StopStringMatcher {
    /// Feeds the last decoded text and releases everything (stop strings still cut it).
    mutating func flush(after text: String) -> String {
        switch append(text) {
        case .stopped(let before, _): return before
        case .text(let released): return released + flush()
        }
    }
}
