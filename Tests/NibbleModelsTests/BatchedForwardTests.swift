import Foundation
import NibbleKernels
import NibbleModels
import NibbleTestSupport
import Testing

/// A real model over the paged cache: a batched step equals the single path, reused prefix blocks equal
/// recomputed ones, and half-precision caches stay close to float32.
///
/// The model work runs on a thread of its own (results come back, expectations are checked in the test), so
/// these long computations leave Swift's cooperative pool to the tests that wait on their own steps.
@Suite struct BatchedForwardTests {
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    static func pool(_ loaded: LoadedModel, dtype: KVCacheDType = .float32, blocks: Int = 64) -> KVBlockPool {
        let probe = loaded.model.makeCache(capacity: 1)
        return KVBlockPool(layerCount: probe.layerCount, kvDim: probe.kvDim, dtype: dtype, blockCount: blocks)
    }

    @Test func batchedStepEqualsSinglePath() async throws {
        let worst = try await Self.onThread { () throws -> Float in
            let (reference, _) = try ReferenceFile.load("kjv-llama-4m-fp32")
            let loaded = try ModelLoader.load(directory: SharedFixtures.model("kjv-llama-4m"))
            let prompts = reference.cases.map(\.input_ids)
            let pool = Self.pool(loaded)
            // Alone, each through its own cache: the prefill, then one decoding step.
            var single: [[Float]] = []
            var nextTokens: [Int] = []
            for prompt in prompts {
                let cache = KVCache(pool: pool, capacity: 128)
                let prefill = try loaded.model.forward(prompt, cache: cache, allLogits: false)
                nextTokens.append(argmax(prefill[...]))
                single.append(prefill)
                single.append(try loaded.model.forward([nextTokens.last!], cache: cache, allLogits: false))
            }
            // Together: one step prefilling every prompt, then one step decoding all of them.
            let caches = prompts.map { _ in KVCache(pool: pool, capacity: 128) }
            let prefill = try loaded.model.forward(batch: zip(prompts, caches).map { SequenceStep(tokens: $0, cache: $1, logits: .last) })
            let decode = try loaded.model.forward(batch: zip(nextTokens, caches).map { SequenceStep(tokens: [$0], cache: $1, logits: .last) })
            var worst: Float = 0
            for i in prompts.indices {
                worst = max(worst, maxAbsDiff(prefill[i], single[2 * i]), maxAbsDiff(decode[i], single[2 * i + 1]))
            }
            return worst
        }
        #expect(worst <= 1e-5, "max |Δlogit| batched vs single = \(worst)")
    }

    @Test func reusedPrefixEqualsRecomputedPrefix() async throws {
        let (promptCount, reused, count, diff) = try await Self.onThread { () throws -> (Int, Int, Int, Float) in
            let loaded = try ModelLoader.load(directory: SharedFixtures.model("kjv-llama-4m"))
            let prompt = loaded.tokenizer.encode(
                "And God said, Let there be light: and there was light. And God saw the light, that it was good: and "
                    + "God divided the light from the darkness.", addSpecialTokens: true)
            let pool = Self.pool(loaded)
            let first = KVCache(pool: pool, capacity: 128)
            let computed = try loaded.model.forward(prompt, cache: first, allLogits: false)
            first.publishFullBlocks(tokens: prompt)
            let second = KVCache(pool: pool, capacity: 128)
            let reused = second.adoptCachedPrefix(of: prompt)
            let rest = try loaded.model.forward(Array(prompt[reused...]), cache: second, allLogits: false)
            return (prompt.count, reused, second.count, maxAbsDiff(rest, computed))
        }
        #expect(promptCount > 33)
        #expect(reused == (promptCount - 1) / 16 * 16)
        #expect(count == promptCount)
        #expect(diff <= 1e-5, "max |Δlogit| reused vs recomputed = \(diff)")
    }

    @Test(arguments: [(KVCacheDType.float32, Float(0.001)), (.float16, 0.02), (.bfloat16, 0.2)])
    func halfPrecisionCacheStaysCloseToFloat32(dtype: KVCacheDType, bound: Float) async throws {
        let (worst, firstIdsMatch) = try await Self.onThread { () throws -> (Float, [Bool]) in
            let (reference, logits) = try ReferenceFile.load("kjv-llama-4m-fp32")
            let loaded = try ModelLoader.load(directory: SharedFixtures.model("kjv-llama-4m"))
            var worst: Float = 0
            var matches: [Bool] = []
            for (i, c) in reference.cases.enumerated() {
                let cache = KVCache(pool: Self.pool(loaded, dtype: dtype), capacity: 128)
                let out = try loaded.model.forward(c.input_ids, cache: cache, allLogits: false)
                let expected = try logits.tensor("p\(i).last_logits").floats()
                worst = max(worst, maxAbsDiff(out, expected))
                // transformers applies the checkpoint's repetition penalty to the prompt's ids before the first pick.
                var penalized = out
                let penalty = loaded.generationConfig.repetitionPenalty ?? 1
                for id in Set(c.input_ids) { penalized[id] = penalized[id] < 0 ? penalized[id] * penalty : penalized[id] / penalty }
                matches.append(argmax(penalized[...]) == c.greedy_new_ids[0])
            }
            return (worst, matches)
        }
        print("kv cache \(dtype): max |Δlogit| vs transformers fp32 = \(worst)")
        #expect(worst <= bound, "\(dtype): max |Δlogit| = \(worst)")
        #expect(firstIdsMatch.allSatisfy { $0 }, "\(dtype): first greedy ids")
    }
}
