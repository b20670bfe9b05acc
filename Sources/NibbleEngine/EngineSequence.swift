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
    /// Log-probabilities of prompt tokens 1, 2, … computed so far, when the request scores its prompt.
    var promptScores: [TokenLogprob] = []
    /// Whether every prompt position is scored (or none was asked for).
    var promptScored: Bool

    init(job: Job, state: GenerationState, cache: KVCache, order: Int) {
        self.job = job
        self.state = state
        self.cache = cache
        self.order = order
        tokens = state.promptTokens
        promptScored = job.request.promptLogprobs == nil
    }

    /// Whether its next prefill steps must return every row of logits (to score prompt positions).
    var wantsPromptRows: Bool { !promptScored }

    /// Scores the prompt positions a step's rows predict: row `r` of `rows` `(count, vocab)` holds the logits
    /// at position `first + r`, which predict the token at `first + r + 1`. Positions already scored (before a
    /// preemption) are skipped. True when this completed the prompt.
    func scorePrompt(rows: ArraySlice<Float>, first: Int, count: Int, vocab: Int) -> Bool {
        guard !promptScored, let top = job.request.promptLogprobs else { return false }
        let prompt = state.promptTokens
        rows.withUnsafeBufferPointer { buffer in
            for r in 0..<count {
                let target = first + r + 1
                guard target < prompt.count, target == promptScores.count + 1 else { continue }
                let row = UnsafeBufferPointer(rebasing: buffer[(r * vocab)..<((r + 1) * vocab)])
                promptScores.append(TokenLogprob(logits: row, token: prompt[target], top: top))
            }
        }
        promptScored = promptScores.count == prompt.count - 1
        return promptScored
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
