import Foundation
import NibbleFormats
import NibbleModels
import NibbleTestSupport
import NibbleTokenizer
import NibbleTemplates
import Testing

/// A real chat model from a GGUF file (SmolLM2-135M-Instruct, Q4_1 with a Q8_0 embedding) against transformers
/// 5.24 dequantizing the same file to float32: tokenizer from the metadata, rotary permutation undone, logits
/// and greedy continuations.
@Suite(.enabled(if: RealModelFixtures.smolLM2GGUF != nil, Comment(rawValue: RealModelFixtures.smolLM2Missing)))
struct SmolLM2GGUFTests {
    static let referenceName = "smollm2/smollm2-135m-instruct-q4_1-fp32"

    /// Loaded once for the suite: dequantizing 135M parameters is the slow part.
    static let loaded: Result<LoadedModel, any Error> = Result { try ModelLoader.load(directory: RealModelFixtures.smolLM2GGUF!) }

    @Test func configFromMetadata() throws {
        let config = try Self.loaded.get().config
        let architecture = try ModelFamilies.resolve(config).architecture
        #expect(config.hiddenSize == 576 && config.intermediateSize == 1536 && config.numHiddenLayers == 30)
        #expect(config.numAttentionHeads == 9 && config.numKeyValueHeads == 3 && architecture.headDim == 64)
        #expect(config.vocabSize == 49152 && config.maxPositionEmbeddings == 8192)
        #expect(architecture.rope.theta == 100_000 && config.rmsNormEps == Float(1e-5))
        #expect(config.tieWordEmbeddings, "the file has no output.weight")
    }

    @Test func chatTemplateAndSpecialTokensFromMetadata() throws {
        let loaded = try Self.loaded.get()
        let template = try #require(loaded.chatTemplate, "the file carries tokenizer.chat_template")
        #expect(template.origin == "the weights file")
        #expect(template.specialTokens["bos_token"]?.stringValue == "<|im_start|>")
        #expect(template.specialTokens["eos_token"]?.stringValue == "<|im_end|>")
        #expect(loaded.eosTokenIds == [2])
        #expect(loaded.tokenizer.isSpecial(1) && loaded.tokenizer.isSpecial(2) && !loaded.tokenizer.isSpecial(504))
        #expect(!loaded.tokenizer.addsBosToken, "tokenizer.ggml.add_bos_token is false")
    }

    @Test func inputIdsLogitsAndGreedyMatchTransformers() throws {
        let loaded = try Self.loaded.get()
        let (reference, logits) = try ReferenceFile.load(Self.referenceName)
        #expect(reference.cases.count == 8)
        for (i, c) in reference.cases.enumerated() {
            // The chat cases are ChatML text already rendered: tokenized as text, special tokens split out.
            let ids = loaded.tokenizer.encode(c.prompt, addSpecialTokens: true)
            #expect(ids == c.input_ids, "input ids of case \(i)")
            let (first, generated) = try LlamaReferenceTests.greedy(loaded, prompt: c.input_ids, count: c.greedy_new_ids.count)
            let diff = maxAbsDiff(first, try logits.tensor("p\(i).last_logits").floats())
            #expect(diff <= 1e-3, "case \(i): max |Δlogit| = \(diff)")
            #expect(generated == c.greedy_new_ids, "case \(i) greedy ids")
            if let text = c.greedy_text {
                #expect(loaded.tokenizer.decode(generated, skipSpecialTokens: true) == text, "case \(i) text")
            }
        }
    }

    @Test func allPositionLogitsOfPrompt0() throws {
        let loaded = try Self.loaded.get()
        let (reference, logits) = try ReferenceFile.load(Self.referenceName)
        let all = try logits.tensor("p0.all_logits")
        let ids = reference.cases[0].input_ids
        let ours = try loaded.model.forward(ids, cache: loaded.model.makeCache(capacity: ids.count), allLogits: true)
        #expect(all.elementCount == ours.count && all.shape == [ids.count, 49152])
        #expect(maxAbsDiff(ours, all.floats()) <= 1e-3)
    }

    @Test func loadsWith4BitQuantization() throws {
        var options = LoadOptions()
        options.quantizationConfigJSON = Data(#"{"load_in_4bit": true, "bnb_4bit_quant_type": "nf4"}"#.utf8)
        let quantized = try ModelLoader.load(directory: RealModelFixtures.smolLM2GGUF!, options: options)
        #expect(quantized.memory.bytesByFormat.keys.contains { $0.hasPrefix("nf4") }, "\(quantized.memory.bytesByFormat)")
        #expect(quantized.memory.totalBytes < (try Self.loaded.get()).memory.totalBytes / 2)
        // NF4 moves logits, but the confident first tokens stay.
        let (reference, _) = try ReferenceFile.load(Self.referenceName)
        for c in reference.cases.prefix(2) {
            let (_, generated) = try LlamaReferenceTests.greedy(quantized, prompt: c.input_ids, count: 1)
            #expect(generated == [c.greedy_new_ids[0]], "first token of '\(c.prompt)'")
        }
    }

    @Test func unknownArchitectureIsRefusedWithTheKnownList() throws {
        // The real file with its architecture string swapped for another of the same length.
        var bytes = try Data(contentsOf: RealModelFixtures.smolLM2GGUF!)
        let needle = Data("llama".utf8)
        let at = try #require(bytes.range(of: needle, in: 0..<4096)).lowerBound
        bytes.replaceSubrange(at..<(at + 5), with: Data("gpt2x".utf8))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-gguf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("x.gguf")
        try bytes.write(to: file)
        do {
            _ = try ModelLoader.load(directory: file)
            Issue.record("an unknown architecture loaded")
        } catch {
            let message = "\(error)"
            #expect(message.contains("'gpt2x'") && message.contains("known: llama"), "\(message)")
        }
    }
}
