import Foundation
import NibbleFormats
import NibbleKernels
import NibbleModels
import NibbleTestSupport
import Testing

/// The LLaMA forward pass against transformers: same input ids, same last-position logits, same greedy tokens.
@Suite struct LlamaReferenceTests {
    /// Greedy decoding with the KV cache: a batched prefill, then one token per step.
    ///
    /// transformers' `generate(do_sample=False)` still applies the checkpoint's `generation_config.json`
    /// repetition penalty (kjv-llama-4m ships 1.1), so the reference ids include it.
    static func greedy(_ loaded: LoadedModel, prompt ids: [Int], count: Int) throws -> (firstLogits: [Float], ids: [Int]) {
        let cache = loaded.model.makeCache(capacity: ids.count + count)
        var logits = try loaded.model.forward(ids, cache: cache, allLogits: false)
        let first = logits
        let penalty = loaded.generationConfig.repetitionPenalty ?? 1
        var out: [Int] = []
        for _ in 0..<count {
            if penalty != 1 {
                for id in Set(ids + out) { logits[id] = logits[id] < 0 ? logits[id] * penalty : logits[id] / penalty }
            }
            let next = argmax(logits[...])
            out.append(next)
            if out.count == count { break }
            logits = try loaded.model.forward([next], cache: cache, allLogits: false)
        }
        return (first, out)
    }

    func check(reference name: String, model directory: URL, tolerance: Float, greedyPrefix: Int? = nil) throws {
        let (reference, logits) = try ReferenceFile.load(name)
        let loaded = try ModelLoader.load(directory: directory)
        #expect(!reference.cases.isEmpty)
        for (i, c) in reference.cases.enumerated() {
            let ids = loaded.tokenizer.encode(c.prompt, addSpecialTokens: true)
            #expect(ids == c.input_ids, "input ids of '\(c.prompt)'")
            let wanted = greedyPrefix.map { min($0, c.greedy_new_ids.count) } ?? c.greedy_new_ids.count
            let (first, generated) = try Self.greedy(loaded, prompt: c.input_ids, count: wanted)
            let expected = try logits.tensor("p\(i).last_logits").floats()
            let diff = maxAbsDiff(first, expected)
            #expect(diff <= tolerance, "\(name) case \(i): max |Δlogit| = \(diff)")
            #expect(generated == Array(c.greedy_new_ids.prefix(wanted)), "\(name) case \(i) greedy ids")
        }
    }

    @Test func llamaTinyFP32() throws {
        try check(reference: "llama-tiny-fp32", model: SharedFixtures.model("llama-tiny"), tolerance: 1e-3)
    }

    @Test func kjvLlama4m() throws {
        try check(reference: "kjv-llama-4m-fp32", model: SharedFixtures.model("kjv-llama-4m"), tolerance: 1e-3)
    }

    @Test func shardedBF16() throws {
        // The bf16 shards hold llama-tiny's fp16 weights rounded to bf16 (checked below), and the only reference
        // logits were computed from the fp16 weights. Rounding 3 mantissa bits off every weight moves this random
        // model's logits by up to ~0.034, so the bound is 5e-2 and only the first greedy ids are compared: its
        // top logits are within a few hundredths of each other and later ids legitimately diverge.
        try check(reference: "llama-tiny-fp32", model: SharedFixtures.model("llama-tiny-sharded-bf16"), tolerance: 5e-2,
                  greedyPrefix: 3)
    }

    @Test func shardedBF16TensorsAreTheRoundedFP16Weights() throws {
        let sharded = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny-sharded-bf16"))
        let single = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny"))
        #expect(sharded.files.count == 3)
        #expect(sharded.tensorNames == single.tensorNames)
        for name in single.tensorNames {
            let bf16 = try sharded.tensor(name)
            let f16 = try single.tensor(name)
            #expect(bf16.dtype == .bf16 && f16.dtype == .f16 && bf16.shape == f16.shape, "\(name)")
            let rounded = f16.floats().map(roundToBF16)
            #expect(rounded == bf16.floats(), "\(name) is not RNE-bf16(fp16)")
        }
    }

    @Test func allPositionLogitsOfBatchedPrefill() throws {
        // p0.all_logits holds every prompt position: batched prefill must match position by position.
        let (reference, logits) = try ReferenceFile.load("llama-tiny-fp32")
        let all = try #require(logits.tensors["p0.all_logits"], "the reference holds no p0.all_logits")
        let loaded = try ModelLoader.load(directory: SharedFixtures.model("llama-tiny"))
        let ids = reference.cases[0].input_ids
        let cache = loaded.model.makeCache(capacity: ids.count)
        let ours = try loaded.model.forward(ids, cache: cache, allLogits: true)
        #expect(all.elementCount == ours.count)
        #expect(maxAbsDiff(ours, all.floats()) <= 1e-3)
    }

    @Test func embeddedDefaultModelMatchesShared() throws {
        // The repository ships kjv-llama-4m as its default model; it must be the same checkpoint.
        let embedded = SharedFixtures.repositoryRoot.appendingPathComponent("models/kjv-llama-4m/model.safetensors")
        let shared = SharedFixtures.model("kjv-llama-4m").appendingPathComponent("model.safetensors")
        #expect(try Data(contentsOf: embedded) == Data(contentsOf: shared))
    }

    @Test func contextOverflowIsAnError() throws {
        let loaded = try ModelLoader.load(directory: SharedFixtures.model("kjv-llama-4m"))
        let cache = loaded.model.makeCache(capacity: 4)
        #expect(throws: ModelError.self) { try loaded.model.forward([1, 2, 3, 4, 5], cache: cache, allLogits: false) }
        #expect(throws: ModelError.self) { try loaded.model.forward([999_999], cache: cache, allLogits: false) }
    }
}
