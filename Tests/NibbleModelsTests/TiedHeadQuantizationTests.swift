import Foundation
import NibbleKernels
import NibbleModels
import NibbleQuant
import NibbleTestSupport
import Testing

/// A model whose output head is tied to the embedding matrix (qwen2-tiny) follows the quantization plan: the
/// default skip list keeps the head as the embedding; a list without `lm_head` quantizes a copy of the embedding
/// (bitsandbytes' quantization, by Nibble's bit-exact quantizer) while the token lookup keeps the stored matrix.
@Suite struct TiedHeadQuantizationTests {
    static func load(_ json: String) throws -> DecoderModel {
        var options = LoadOptions()
        options.quantizationConfigJSON = Data(json.utf8)
        let loaded = try ModelLoader.load(directory: FamilyFixture.qwen2.directory, options: options)
        return try #require(loaded.model as? DecoderModel)
    }

    /// Last-position logits of every reference prompt.
    static func lastLogits(_ model: DecoderModel) throws -> [[Float]] {
        let (reference, _) = try ReferenceFile.load(FamilyFixture.qwen2.reference)
        return try reference.cases.map { c in
            let cache = model.makeCache(capacity: c.input_ids.count)
            return try model.forward(c.input_ids, cache: cache, allLogits: false)
        }
    }

    @Test func defaultSkipListKeepsTheEmbeddingAsHead() throws {
        let model = try Self.load(#"{"load_in_8bit": true}"#)
        #expect(model.architecture.tiedEmbeddings)
        #expect(model.lmHead.weight is DenseWeight)
        #expect(model.lmHead.weight.formatName == model.embeddings.formatName)
    }

    @Test func int8HeadIsTheQuantizedEmbedding() throws {
        let plain = try Self.load(#"{"load_in_8bit": true}"#)
        let model = try Self.load(#"{"load_in_8bit": true, "llm_int8_skip_modules": []}"#)
        let head = try #require(model.lmHead.weight as? Int8Weight)
        #expect(model.embeddings.formatName == "f16", "the lookup keeps the stored matrix")
        let values = model.embeddings.floats()
        let (cb, scb) = values.withUnsafeBufferPointer {
            Int8Quantizer.quantize(weight: $0, outFeatures: model.embeddings.outFeatures,
                                   inFeatures: model.embeddings.inFeatures)
        }
        #expect(head.cb == cb)
        #expect(head.scb.map(\.bitPattern) == scb.map(\.bitPattern))
        #expect(head.threshold == 6)
        try expectClose(try Self.lastLogits(model), try Self.lastLogits(plain), relative: 0.02)
    }

    @Test func nf4HeadIsTheQuantizedEmbedding() throws {
        let config = #""load_in_4bit": true, "bnb_4bit_quant_type": "nf4""#
        let plain = try Self.load("{\(config)}")
        let model = try Self.load("{\(config), \"llm_int8_skip_modules\": []}")
        let head = try #require(model.lmHead.weight as? FourBitWeight)
        let values = model.embeddings.floats()
        let expected = values.withUnsafeBufferPointer {
            FourBitWeight(quantizing: $0, outFeatures: model.embeddings.outFeatures,
                          inFeatures: model.embeddings.inFeatures, quantType: .nf4, doubleQuant: false,
                          originalDType: "float16")
        }
        #expect(head.packed == expected.packed)
        #expect(head.absmax.map(\.bitPattern) == expected.absmax.map(\.bitPattern))
        try expectClose(try Self.lastLogits(model), try Self.lastLogits(plain), relative: 0.1)
    }

    /// The quantized head moves logits by a small fraction of their spread (the weight's quantization step),
    /// and the top token stays the same.
    func expectClose(_ quantized: [[Float]], _ plain: [[Float]], relative: Float) throws {
        for (q, p) in zip(quantized, plain) {
            let spread = p.max()! - p.min()!
            let diff = maxAbsDiff(q, p)
            print("tied head: max |Δlogit| \(diff), spread \(spread)")
            #expect(diff <= relative * spread)
            #expect(q.indices.max { q[$0] < q[$1] } == p.indices.max { p[$0] < p[$1] })
        }
    }

    /// Placement plans with the copy: the embedding's footprint grows by the quantized head's bytes, so a memory
    /// budget counts what is really loaded.
    @Test func placementCountsTheQuantizedHeadCopy() throws {
        func load(_ json: String) throws -> LoadedModel {
            var options = LoadOptions()
            options.quantizationConfigJSON = Data(json.utf8)
            return try ModelLoader.load(directory: FamilyFixture.qwen2.directory, options: options)
        }
        func embeddingBytes(_ loaded: LoadedModel) throws -> Int {
            try #require(loaded.placement.assignments.first { $0.module == "model.embed_tokens" }).bytes
        }
        let plain = try load(#"{"load_in_8bit": true}"#)
        let quantized = try load(#"{"load_in_8bit": true, "llm_int8_skip_modules": []}"#)
        let head = try #require((quantized.model as? DecoderModel)?.lmHead.weight as? Int8Weight)
        #expect(try embeddingBytes(quantized) == (try embeddingBytes(plain)) + head.storageBytes)
    }
}
