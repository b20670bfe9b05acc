import Foundation
import NibbleEngine
import NibbleGeneration
import NibbleKernels
import NibbleModels
import NibbleTestFakes
import NibbleTestSupport
import Testing

/// The batching engine: many sequences in shared steps over one KV pool per model, with admission, preemption,
/// prefix reuse and chunked prefill changing no output.
@Suite struct BatchingEngineTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            let prompt: String
            let input_ids: [Int]
            let greedy_new_ids: [Int]
        }
        let cases: [Case]
    }

    /// Greedy as transformers' reference ran it: the checkpoint's generation config, no sampling, a fixed count.
    static func greedy(_ loaded: LoadedModel, name: String = "m", _ ids: [Int], count: Int) -> GenerationRequest {
        var parameters = GenerationParameters(defaults: loaded.generationConfig)
        parameters.doSample = false
        parameters.maxNewTokens = count
        parameters.ignoreEOS = true
        return GenerationRequest(modelName: name, model: loaded, promptTokens: ids, parameters: try! parameters.validated())
    }

    static func blockBytes(_ loaded: LoadedModel) -> Int {
        let probe = loaded.model.makeCache(capacity: 1)
        return KVBlockPool.bytesPerBlock(layerCount: probe.layerCount, kvDim: probe.kvDim, dtype: .float32)
    }

    @Test func greedyReferencesMatchWithMixedRequestsRunningTogether() async throws {
        let scheduler = Scheduler(limits: SchedulerLimits(maxConcurrent: 8, maxQueued: 16, maxBatchTokens: 40))
        var submitted: [(AsyncThrowingStream<GenerationEvent, any Error>, [Int], String)] = []
        let models = try [("kjv-llama-4m-fp32", "kjv-llama-4m"), ("llama-tiny-fp32", "llama-tiny")].map { reference, model in
            (try SharedFixtures.decodeReference(Reference.self, reference + ".json").cases, reference, model,
             try ModelLoader.load(directory: SharedFixtures.model(model)))
        }
        for (cases, reference, model, loaded) in models {
            for (i, c) in cases.enumerated() {
                let stream = try scheduler.submit(Self.greedy(loaded, name: model, c.input_ids, count: c.greedy_new_ids.count))
                submitted.append((stream, c.greedy_new_ids, "\(reference) case \(i)"))
            }
        }
        #expect(submitted.count == 10)  // 8 run at once, 2 wait for a slot
        for (stream, expected, label) in submitted {
            let result = try await GenerationResult(folding: stream)
            #expect(result.tokens == expected, "\(label)")
            #expect(result.finishReason == .length)
        }
        #expect(await eventually { scheduler.stats.completed == submitted.count })
        #expect(scheduler.stats.kvPools.count == 2)
        #expect(scheduler.stats.kvPools.allSatisfy { $0.blocksInUse == 0 })
    }

    @Test func preemptionWhenThePoolRunsDryChangesNoOutput() async throws {
        let cases = try SharedFixtures.decodeReference(Reference.self, "kjv-llama-4m-fp32.json").cases
        let loaded = try ModelLoader.load(directory: SharedFixtures.model("kjv-llama-4m"))
        // Six blocks (96 positions) for four sequences of 36–39 positions (3 blocks) each: at most two fit at once.
        let budget = 6 * Self.blockBytes(loaded)
        let scheduler = Scheduler(limits: SchedulerLimits(
            maxConcurrent: 8, maxBatchTokens: 64, kvCache: KVCacheSettings(memory: .bytes(budget), prefixCaching: false)))
        let streams = try cases.map { try scheduler.submit(Self.greedy(loaded, $0.input_ids, count: $0.greedy_new_ids.count)) }
        // The per-request KV bytes must add up to at most the pool: a preempted sequence holds nothing.
        let monitor = Task {
            var most = 0
            while !Task.isCancelled {
                most = max(most, scheduler.stats.kvCacheBytesInUse)
                try? await Task.sleep(nanoseconds: 200_000)
            }
            return most
        }
        for (stream, c) in zip(streams, cases) {
            let result = try await GenerationResult(folding: stream)
            #expect(result.tokens == c.greedy_new_ids, "\(c.prompt)")
        }
        #expect(await eventually { scheduler.stats.completed == cases.count })
        monitor.cancel()
        let reported = await monitor.value
        #expect(reported <= budget, "per-request KV bytes peaked at \(reported), pool \(budget)")
        let pool = try #require(scheduler.stats.kvPools.first)
        #expect(pool.blocksTotal == 6)
        #expect(pool.preemptions > 0)
        #expect(pool.blocksInUse == 0)
    }

    @Test func prefixReuseReportsCachedTokensAndChangesNoOutput() async throws {
        let loaded = try ModelLoader.load(directory: SharedFixtures.model("kjv-llama-4m"))
        let prompt = loaded.tokenizer.encode(
            "And God said, Let there be light: and there was light. And God saw the light, that it was good: and God "
                + "divided the light from the darkness.", addSpecialTokens: true)
        let cold = Scheduler(limits: SchedulerLimits(kvCache: KVCacheSettings(prefixCaching: false)))
        let expected = try await GenerationResult(folding: cold.submit(Self.greedy(loaded, prompt, count: 12)))
        #expect(expected.usage.cachedTokens == 0)

        let scheduler = Scheduler()
        let first = try await GenerationResult(folding: scheduler.submit(Self.greedy(loaded, prompt, count: 12)))
        let second = try await GenerationResult(folding: scheduler.submit(Self.greedy(loaded, prompt, count: 12)))
        #expect(first.usage.cachedTokens == 0)
        #expect(second.usage.cachedTokens == (prompt.count - 1) / 16 * 16)
        #expect(second.timings.cachedTokens == second.usage.cachedTokens)
        #expect(first.tokens == expected.tokens)
        #expect(second.tokens == expected.tokens)
        // A prompt that shares only the first block reuses just that block.
        var other = prompt
        other[20] = other[20] == 5 ? 6 : 5
        let third = try await GenerationResult(folding: scheduler.submit(Self.greedy(loaded, other, count: 4)))
        #expect(third.usage.cachedTokens == 16)
        #expect(await eventually { (scheduler.stats.kvPools.first?.blocksCached ?? 0) > 0 })
    }

    @Test func longPromptIsPrefilledInChunksWhileOthersKeepDecoding() async throws {
        let gate = StepGate()
        let model = ScriptedModel(gate: gate)
        let loaded = try makeLoaded(model)
        let scheduler = Scheduler(limits: SchedulerLimits(maxConcurrent: 4, maxBatchTokens: 4))
        let decoding = try scheduler.submit(request(loaded, maxNewTokens: 30))
        var iterator = decoding.makeAsyncIterator()
        gate.allow(1)
        _ = try await iterator.next()  // the short prompt is prefilled and decoding
        var long = request(loaded, maxNewTokens: 2)
        long.promptTokens = [1] + Array(repeating: FakeTokenizer.byte(65), count: 19)
        let prefilling = try scheduler.submit(long)
        gate.open()
        let result = try await GenerationResult(folding: prefilling)
        #expect(result.tokens.count == 2)
        while try await iterator.next() != nil {}
        let batches = model.batches
        #expect(batches.allSatisfy { $0.reduce(0, +) <= 4 })
        // The 20-token prompt went in chunks of 3 beside the other sequence's one decoding token.
        #expect(batches.filter { $0 == [1, 3] }.count >= 6)
        #expect(!batches.contains { $0.contains(20) })
    }

    @Test func aRequestThatCanNeverFitIsRefusedAndHugeContextsStayBounded() async throws {
        let loaded = try makeLoaded(ScriptedModel(maxContextLength: 1_000_000_000_000))
        let scheduler = Scheduler(limits: SchedulerLimits(kvCache: KVCacheSettings(memory: .bytes(1 << 20))))
        #expect(throws: EngineError.exceedsKVCache(tokens: 100_000_003, poolTokens: 8192 * 16, poolBytes: 1 << 20)) {
            _ = try scheduler.submit(request(loaded, maxNewTokens: 100_000_000))
        }
        let result = try await GenerationResult(folding: scheduler.submit(request(loaded, maxNewTokens: 8)))
        #expect(result.tokens.count == 8)
        #expect(scheduler.stats.rejected == 0)
    }

    @Test func automaticBudgetOfAHugeContextModelIsBoundedByMemory() async throws {
        let loaded = try makeLoaded(ScriptedModel(maxContextLength: 1_000_000_000_000))
        let scheduler = Scheduler()
        let result = try await GenerationResult(folding: scheduler.submit(request(loaded, maxNewTokens: 4)))
        #expect(result.tokens.count == 4)
        let pool = try #require(scheduler.stats.kvPools.first)
        #expect(pool.blocksTotal > 0)
        #expect(pool.blocksTotal * pool.blockBytes <= Int(ProcessInfo.processInfo.physicalMemory) / 4)
    }

    @Test func budgetsParseSizesSharesAndAuto() throws {
        #expect(try KVMemoryBudget(parsing: "2GiB") == .bytes(2 << 30))
        #expect(try KVMemoryBudget(parsing: "40%") == .shareOfAvailable(0.4))
        #expect(try KVMemoryBudget(parsing: "auto") == .automatic)
        #expect(throws: EngineError.self) { try KVMemoryBudget(parsing: "lots") }
        #expect(throws: EngineError.self) { try KVMemoryBudget(parsing: "150%") }
    }
}
