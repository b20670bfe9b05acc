import Dispatch
import NibbleGeneration
import NibbleModels

/// A sequence the engine runs: its job, its generation state, its block table and every token it has so far.
///
/// Its next input is always `tokens[cache.count...]`: the prompt (or a chunk of it) while prefilling, the last
/// sampled token while decoding, and everything again after a preemption emptied its cache.
final class EngineSequence {
    let job: Job
    var state: GenerationState
    let cache: KVCache
    /// Arrival order at the engine; the newest running sequence is the one preempted.
    let order: Int
    /// Prompt then generated tokens.
    private(set) var tokens: [Int]
    /// When its first prefill chunk was scheduled, and when its first logits came back (uptime nanoseconds).
    var prefillStart: UInt64?
    var prefillEnd: UInt64?
    /// Prompt tokens served from the prefix cache at its first admission.
    var cachedPromptTokens: Int?
    /// Times it was preempted.
    var preemptions = 0

    init(job: Job, state: GenerationState, cache: KVCache, order: Int) {
        self.job = job
        self.state = state
        self.cache = cache
        self.order = order
        tokens = state.promptTokens
    }

    /// Tokens not yet in the cache.
    var pending: Int { tokens.count - cache.count }

    func append(_ token: Int) { tokens.append(token) }

    /// Timings of the generation so far, ending `now`.
    func timings(now: UInt64) -> Timings {
        let start = prefillStart ?? now, firstLogits = prefillEnd ?? now
        var timings = Timings(promptTokens: state.promptTokens.count,
                              promptMilliseconds: Double(firstLogits - start) / 1e6,
                              predictedTokens: state.generated.count,
                              predictedMilliseconds: Double(now - firstLogits) / 1e6)
        timings.cachedTokens = cachedPromptTokens ?? 0
        return timings
    }
}
