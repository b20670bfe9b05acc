/// A causal language model that appends tokens to a cached sequence and returns logits.
///
/// Models are immutable after loading and may be shared; all per-sequence state lives in `KVCache`,
/// which has exactly one owner (the engine's generation loop).
public protocol LanguageModel: AnyObject, Sendable {
    /// Size of the logits vector (`vocab_size`).
    var vocabularySize: Int { get }
    /// Longest sequence (prompt + generated) the model accepts (`max_position_embeddings`).
    var maxContextLength: Int { get }

    /// Creates an empty cache for one sequence of at most `capacity` tokens.
    func makeCache(capacity: Int) -> KVCache

    /// Runs `tokens` at positions `cache.count ..< cache.count + tokens.count` and appends them to `cache`.
    ///
    /// - Returns: float32 logits, shape `(tokens.count, vocab)` when `allLogits`, else `(vocab)` for the
    ///   last position only.
    func forward(_ tokens: [Int], cache: KVCache, allLogits: Bool) throws -> [Float]
}
