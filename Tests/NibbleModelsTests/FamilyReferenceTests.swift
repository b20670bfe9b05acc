import Foundation
import NibbleFormats
import NibbleModels
import NibbleTestSupport
import Testing

/// The reference checkpoints of every model family, one per family.
enum FamilyFixture: String, CaseIterable, CustomTestStringConvertible {
    case mistral = "mistral-tiny"
    case qwen2 = "qwen2-tiny"
    case qwen3 = "qwen3-tiny"
    case llama3Rope = "llama3-rope-tiny"

    var directory: URL { SharedFixtures.model(rawValue) }
    var reference: String { rawValue + "-fp32" }
    var testDescription: String { rawValue }
}

/// Mistral, Qwen2, Qwen3 and LLaMA with llama3 rope scaling against transformers: same input ids, logits of
/// the last prompt position and of every position of prompt 0 within 1e-3, same 24 greedy ids.
@Suite struct FamilyReferenceTests {
    @Test(arguments: FamilyFixture.allCases)
    func matchesTransformers(_ fixture: FamilyFixture) throws {
        let (reference, logits) = try ReferenceFile.load(fixture.reference)
        let loaded = try ModelLoader.load(directory: fixture.directory)
        #expect(reference.cases.count == 5)
        // The longest prompt (111 tokens) exceeds mistral-tiny's 16-token window in prefill and in decoding.
        #expect(reference.cases.map(\.input_ids.count).max()! > 100)
        for (i, c) in reference.cases.enumerated() {
            let ids = loaded.tokenizer.encode(c.prompt, addSpecialTokens: true)
            #expect(ids == c.input_ids, "\(fixture.rawValue) input ids of case \(i)")
            let (first, generated) = try LlamaReferenceTests.greedy(loaded, prompt: c.input_ids, count: c.greedy_new_ids.count)
            let diff = maxAbsDiff(first, try logits.tensor("p\(i).last_logits").floats())
            #expect(diff <= 1e-3, "\(fixture.rawValue) case \(i): max |Δlogit| = \(diff)")
            #expect(generated == c.greedy_new_ids, "\(fixture.rawValue) case \(i) greedy ids")
        }
    }

    @Test(arguments: FamilyFixture.allCases)
    func allPositionLogitsOfPrefill(_ fixture: FamilyFixture) throws {
        let (reference, logits) = try ReferenceFile.load(fixture.reference)
        let all = try logits.tensor("p0.all_logits")
        let loaded = try ModelLoader.load(directory: fixture.directory)
        let ids = reference.cases[0].input_ids
        let ours = try loaded.model.forward(ids, cache: loaded.model.makeCache(capacity: ids.count), allLogits: true)
        #expect(all.elementCount == ours.count)
        let diff = maxAbsDiff(ours, all.floats())
        #expect(diff <= 1e-3, "\(fixture.rawValue): max |Δlogit| over every position of p0 = \(diff)")
    }

    /// The longest prompt: all its positions through prefill, against its last-position reference, and token by
    /// token, which must agree with prefill (the window slides the same way in both).
    @Test func mistralWindowSlidesAlikeInPrefillAndDecode() throws {
        let (reference, logits) = try ReferenceFile.load(FamilyFixture.mistral.reference)
        let loaded = try ModelLoader.load(directory: FamilyFixture.mistral.directory)
        let (index, longest) = reference.cases.enumerated().max { $0.element.input_ids.count < $1.element.input_ids.count }!
        let ids = longest.input_ids
        let vocab = loaded.model.vocabularySize
        let prefill = try loaded.model.forward(ids, cache: loaded.model.makeCache(capacity: ids.count), allLogits: true)
        let cache = loaded.model.makeCache(capacity: ids.count)
        var stepwise: [Float] = []
        for id in ids { stepwise += try loaded.model.forward([id], cache: cache, allLogits: false) }
        #expect(maxAbsDiff(prefill, stepwise) <= 1e-4)
        let last = Array(prefill[((ids.count - 1) * vocab)...])
        #expect(maxAbsDiff(last, try logits.tensor("p\(index).last_logits").floats()) <= 1e-3)
    }

    /// The reference depends on the window: the same weights with full attention miss it on the long prompt,
    /// so the matches above do test the window.
    @Test func mistralReferenceNeedsTheWindow() throws {
        let (reference, logits) = try ReferenceFile.load(FamilyFixture.mistral.reference)
        let loaded = try ModelLoader.load(directory: FamilyFixture.mistral.directory)
        let windowed = try #require(loaded.model as? DecoderModel)
        #expect(windowed.layers.allSatisfy { $0.window == 16 })
        var full = windowed.architecture
        full.windows = Array(repeating: nil, count: full.layerCount)
        let unwindowed = DecoderModel(
            architecture: full, embeddings: windowed.embeddings,
            layers: windowed.layers.map {
                DecoderLayer(inputNorm: $0.inputNorm, q: $0.q, k: $0.k, v: $0.v, o: $0.o, postAttentionNorm: $0.postAttentionNorm,
                             gate: $0.gate, up: $0.up, down: $0.down, window: nil)
            },
            finalNorm: windowed.finalNorm, lmHead: windowed.lmHead)
        let (index, longest) = reference.cases.enumerated().max { $0.element.input_ids.count < $1.element.input_ids.count }!
        let ids = longest.input_ids
        let expected = try logits.tensor("p\(index).last_logits").floats()
        let ours = try unwindowed.forward(ids, cache: unwindowed.makeCache(capacity: ids.count), allLogits: false)
        #expect(maxAbsDiff(ours, expected) > 1e-2)
    }

    /// Mistral slides in every layer, so a sequence gives back each KV block once it falls outside the window:
    /// decoding the 111-token prompt one token at a time never holds more than the two blocks a 16-position
    /// window can span, and the last logits still match transformers. LLaMA (no window) keeps every block.
    @Test func slidingWindowBlocksAreGivenBack() throws {
        let (reference, logits) = try ReferenceFile.load(FamilyFixture.mistral.reference)
        let loaded = try ModelLoader.load(directory: FamilyFixture.mistral.directory)
        let (index, longest) = reference.cases.enumerated().max { $0.element.input_ids.count < $1.element.input_ids.count }!
        let ids = longest.input_ids
        let cache = loaded.model.makeCache(capacity: ids.count)
        var last: [Float] = []
        var mostHeld = 0
        for id in ids {
            last = try loaded.model.forward([id], cache: cache, allLogits: false)
            mostHeld = max(mostHeld, cache.blocks.count - cache.releasedBlocks)
        }
        #expect(mostHeld == 2)
        #expect(cache.releasedBlocks == (ids.count - 16 + 1) / KVBlockPool.blockSize)
        #expect(cache.allocatedBytes <= 2 * cache.pool.blockBytes)
        #expect(maxAbsDiff(last, try logits.tensor("p\(index).last_logits").floats()) <= 1e-3)

        let llama = try ModelLoader.load(directory: FamilyFixture.llama3Rope.directory)
        let full = llama.model.makeCache(capacity: ids.count)
        _ = try llama.model.forward(ids, cache: full, allLogits: false)
        #expect(full.releasedBlocks == 0 && full.blocks.count == (ids.count + 15) / 16)
    }
}
