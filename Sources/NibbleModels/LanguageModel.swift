/// Which rows of a sequence's step come back as logits.
public enum LogitRows: Sendable, Equatable {
    /// None: a prefill chunk that is not the prompt's last.
    case none
    /// The last position only, `(vocab)`.
    case last
    /// Every position of the step, `(tokens, vocab)`.
    case all
}

/// One sequence's part of a batched forward step: tokens appended at positions `cache.count ..< cache.count + tokens.count`.
public struct SequenceStep {
    public let tokens: [Int]
    public let cache: KVCache
    public let logits: LogitRows

    public init(tokens: [Int], cache: KVCache, logits: LogitRows) {
        self.tokens = tokens
        self.cache = cache
        self.logits = logits
    }
}

/// A causal language model that appends tokens to cached sequences and returns logits.
///
/// Models are immutable after loading and may be shared; all per-sequence state lives in `KVCache`,
/// which has exactly one owner (the engine's loop).
public protocol LanguageModel: AnyObject, Sendable {
    /// Size of the logits vector (`vocab_size`).
    var vocabularySize: Int { get }
    /// Longest sequence (prompt + generated) the model accepts (`max_position_embeddings`).
    var maxContextLength: Int { get }

    /// Creates an empty cache for one sequence of at most `capacity` tokens.
    func makeCache(capacity: Int) -> KVCache

    /// Runs one step over several sequences at once: every linear layer over all their rows stacked, attention
    /// per sequence over its own cache. Each cache advances by its tokens; nothing is written when it throws.
    ///
    /// - Returns: per step, float32 logits as its `logits` asks: `[]`, `(vocab)` or `(tokens, vocab)`.
    func forward(batch: [SequenceStep]) throws -> BatchLogits
}

extension LanguageModel {
    /// Runs `tokens` at positions `cache.count ..< cache.count + tokens.count` and appends them to `cache`.
    ///
    /// - Returns: float32 logits, shape `(tokens.count, vocab)` when `allLogits`, else `(vocab)` for the
    ///   last position only.
    public func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [Float] {
        // One step: its rows are the whole buffer.
        try forward(batch: [SequenceStep(tokens: tokens, cache: cache, logits: allLogits ? .all : .last)]).values
    }
}
