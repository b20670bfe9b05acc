import NibbleGrammar

/// Structured output for one sequence: a grammar's matcher over the model's shared vocabulary trie.
///
/// Each step `restrict` masks the processed logits to the tokens the grammar allows (the sequence's stop tokens
/// only where the text so far is complete), the sampler picks among them, and `accept` advances the matcher.
/// Generation ends once `isComplete`: nothing but the end can follow.
public struct OutputConstraint {
    private let constraint: GrammarConstraint
    /// Stop tokens of the sequence (EOS ids and request stop ids): allowed exactly when the grammar can end.
    private var stopTokenIds: Set<Int> = []

    /// - Parameters:
    ///   - grammar: the compiled grammar (shared, immutable).
    ///   - vocabulary: the model's vocabulary trie, built once per model.
    public init(grammar: Grammar, vocabulary: TokenVocabulary) {
        constraint = GrammarConstraint(grammar: grammar, vocabulary: vocabulary)
    }

    mutating func bind(stopTokenIds: Set<Int>) {
        self.stopTokenIds = stopTokenIds
    }

    /// Whether only the end can follow.
    public var isComplete: Bool { constraint.isComplete }

    /// Picks the next token and advances the matcher with it.
    ///
    /// The sampler's unconstrained pick stands when the grammar allows it; only otherwise is the full mask
    /// computed and the pick redrawn from the masked logits. For greedy decoding that is exactly the masked
    /// arg-max; for plain sampling it is exactly the masked distribution (a rejected draw is redrawn from the
    /// renormalized rest), and most steps then cost a check of one token's bytes instead of a vocabulary walk.
    func pick(_ logits: inout [Float], using sampler: inout Sampler) throws(GenerationError) -> Int? {
        if let first = sampler.sample(logits) {
            if stopTokenIds.contains(first) {
                if constraint.canEnd { return first }
            } else if try tryAccept(first) {
                return first
            }
        }
        try restrict(&logits)
        guard let token = sampler.sample(logits) else { return nil }
        try accept(token)
        return token
    }

    /// Advances with `token` when the grammar allows it; false (state unchanged) when it does not.
    private func tryAccept(_ token: Int) throws(GenerationError) -> Bool {
        do {
            try constraint.accept(token)
            return true
        } catch GrammarError.tokenRejected {
            return false
        } catch {
            throw .invalidParameter(InvalidParameter(name: "grammar", reason: "\(error)"))
        }
    }

    /// Sets every token the grammar does not allow next to -infinity.
    func restrict(_ logits: inout [Float]) throws(GenerationError) {
        let canEnd = constraint.canEnd
        // Stop ids the vocabulary does not know as end tokens keep their logit only when the grammar can end.
        let stops = stopTokenIds.filter { $0 >= 0 && $0 < logits.count }
        let kept = canEnd ? stops.map { ($0, logits[$0]) } : []
        do {
            try logits.withUnsafeMutableBufferPointer { try constraint.apply(to: $0) }
        } catch {
            throw .invalidParameter(InvalidParameter(name: "grammar", reason: "\(error)"))
        }
        for id in stops { logits[id] = -.infinity }
        for (id, value) in kept { logits[id] = value }
    }

    /// Advances with the sampled token; stop tokens end the text and are not fed to the matcher.
    func accept(_ token: Int) throws(GenerationError) {
        guard !stopTokenIds.contains(token) else { return }
        do { try constraint.accept(token) } catch {
            throw .invalidParameter(InvalidParameter(name: "grammar", reason: "\(error)"))
        }
    }
}
