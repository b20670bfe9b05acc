import Foundation
import NibbleEngine
import NibbleGeneration
import NibbleModels
import NibbleTestSupport
import Testing


/// Log-probabilities, prompt scoring, logit bias and shared prefills through the batching engine.
@Suite(.serialized, .enabled(if: LogprobsReference.available, Comment(rawValue: LogprobsReference.why)))
struct LogprobsEngineTests {
    static let loaded: Result<LoadedModel, any Error> = Result { try ModelLoader.load(directory: RealModelFixtures.smolLM2GGUF!) }

    static func greedy(_ loaded: LoadedModel, _ ids: [Int], count: Int) -> GenerationRequest {
        var parameters = GenerationParameters(defaults: loaded.generationConfig)
        parameters.doSample = false
        parameters.maxNewTokens = count
        parameters.ignoreEOS = true
        return GenerationRequest(modelName: "smol", model: loaded, promptTokens: ids, parameters: try! parameters.validated())
    }

    /// A prompt scored without generating, as lm-evaluation-harness asks for loglikelihoods.
    static func scoring(_ loaded: LoadedModel, _ ids: [Int], top: Int = 1) -> GenerationRequest {
        var request = greedy(loaded, ids, count: 1)
        request.promptLogprobs = top
        request.generates = false
        return request
    }

    @Test func greedyStepsCarryTheReferenceLogprobsAndAlternatives() async throws {
        let loaded = try Self.loaded.get()
        let reference = try LogprobsReference.load()
        let scheduler = Scheduler()
        for generation in reference.generation {
            var request = Self.greedy(loaded, loaded.tokenizer.encode(generation.prompt, addSpecialTokens: true),
                                      count: generation.steps.count)
            request.logprobs = 5
            let result = try await GenerationResult(folding: scheduler.submit(request))
            #expect(result.tokens == generation.steps.map(\.token_id), "\(generation.prompt)")
            #expect(result.logprobs.count == generation.steps.count)
            for (step, got) in zip(generation.steps, result.logprobs) {
                #expect(got.tokenId == step.token_id)
                #expect(abs(got.logprob - step.logprob) <= 1e-3, "\(generation.prompt) \(step.token): \(got.logprob) vs \(step.logprob)")
                #expect(got.top.map(\.tokenId) == step.top.map(\.token_id), "\(generation.prompt) \(step.token) alternatives")
                for (alternative, expected) in zip(got.top, step.top) {
                    #expect(abs(alternative.logprob - expected.logprob) <= 1e-3)
                }
            }
            #expect(result.promptLogprobs == nil)
        }
    }

    @Test func scoredPromptsMatchTheReferenceLoglikelihoods() async throws {
        let loaded = try Self.loaded.get()
        let reference = try LogprobsReference.load()
        let scheduler = Scheduler(limits: SchedulerLimits(maxBatchTokens: 4))  // prompts scored over several chunks
        for c in reference.loglikelihood {
            let result = try await GenerationResult(folding: scheduler.submit(Self.scoring(loaded, c.prompt_ids)))
            #expect(result.tokens.isEmpty && result.usage.completionTokens == 0)
            #expect(result.finishReason == .length)
            let scores = try #require(result.promptLogprobs)
            #expect(scores.map(\.tokenId) == Array(c.prompt_ids.dropFirst()))
            for (got, expected) in zip(scores, c.token_logprobs.dropFirst()) {
                #expect(abs(got.logprob - expected!) <= 1e-3, "\(c.context)\(c.continuation): \(got.logprob) vs \(expected!)")
            }
            let continuation = scores.suffix(c.continuation_tokens)
            #expect(abs(continuation.reduce(0) { $0 + $1.logprob } - c.continuation_logprob) <= 1e-3)
            let greedy = continuation.allSatisfy { $0.top.first?.tokenId == $0.tokenId }
            #expect(greedy == c.is_greedy, "\(c.context)\(c.continuation)")
        }
    }

    @Test func cachedPrefixBlocksDoNotSkipScoredPositions() async throws {
        let loaded = try Self.loaded.get()
        let reference = try LogprobsReference.load()
        // Three cases joined make a prompt longer than two KV blocks.
        let prompt = reference.loglikelihood.flatMap(\.prompt_ids) + reference.loglikelihood.flatMap(\.prompt_ids)
        let uncached = Scheduler(limits: SchedulerLimits(kvCache: KVCacheSettings(prefixCaching: false)))
        let cold = try await GenerationResult(folding: uncached.submit(Self.scoring(loaded, prompt, top: 0)))
        #expect(uncached.stats.failed == 0)
        let scheduler = Scheduler()
        let warmup = try await GenerationResult(folding: scheduler.submit(Self.greedy(loaded, prompt, count: 2)))
        #expect(warmup.usage.cachedTokens == 0)
        let again = try await GenerationResult(folding: scheduler.submit(Self.greedy(loaded, prompt, count: 2)))
        #expect(again.usage.cachedTokens == (prompt.count - 1) / 16 * 16, "the prompt's blocks are published")
        let scored = try await GenerationResult(folding: scheduler.submit(Self.scoring(loaded, prompt, top: 0)))
        #expect(scored.usage.cachedTokens == 0, "scoring computes every position")
        let scores = try #require(scored.promptLogprobs), coldScores = try #require(cold.promptLogprobs)
        #expect(scores.count == prompt.count - 1)
        for (a, b) in zip(scores, coldScores) { #expect(abs(a.logprob - b.logprob) <= 1e-4) }
        // The reference's first case starts the prompt: its positions score as the reference says.
        let first = reference.loglikelihood[0]
        for (got, expected) in zip(scores, first.token_logprobs.dropFirst()) { #expect(abs(got.logprob - expected!) <= 1e-3) }
    }

    @Test func aBannedTokenGivesWayToTheNextMostLikelyWithRawLogprobs() async throws {
        let loaded = try Self.loaded.get()
        let generation = try LogprobsReference.load().generation[0]
        var request = Self.greedy(loaded, loaded.tokenizer.encode(generation.prompt, addSpecialTokens: true), count: 1)
        request.logprobs = 2
        var parameters = request.parameters.values
        parameters.logitBias = [generation.steps[0].token_id: -.infinity]
        request.parameters = try parameters.validated()
        let scheduler = Scheduler()
        let result = try await GenerationResult(folding: scheduler.submit(request))
        #expect(scheduler.stats.failed == 0)
        let second = generation.steps[0].top[1]
        #expect(result.tokens == [second.token_id], "the reference's second choice, once the greedy one is banned")
        let reported = try #require(result.logprobs.first)
        #expect(abs(reported.logprob - second.logprob) <= 1e-3, "logprobs are those of the raw logits")
        #expect(reported.top.first?.tokenId == generation.steps[0].token_id, "the banned token is still reported as most likely")
    }

    @Test func siblingsOfOnePromptPrefillItOnce() async throws {
        let loaded = try Self.loaded.get()
        let reference = try LogprobsReference.load()
        let prompt = reference.loglikelihood.flatMap(\.prompt_ids) + reference.loglikelihood[0].prompt_ids
        #expect(prompt.count == 31)
        let scheduler = Scheduler()
        let streams = try (0..<3).map { _ in try scheduler.submit(Self.greedy(loaded, prompt, count: 4)) }
        var results: [GenerationResult] = []
        for stream in streams { results.append(try await GenerationResult(folding: stream)) }
        #expect(results.map(\.usage.cachedTokens) == [0, 16, 16], "the siblings adopt the first one's published block")
        #expect(results.map(\.timings.cachedTokens) == [0, 16, 16])
        #expect(results[1].tokens == results[0].tokens && results[2].tokens == results[0].tokens)
    }
}
