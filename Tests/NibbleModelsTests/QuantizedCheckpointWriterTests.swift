import Foundation
import NibbleFormats
import NibbleModels
import NibbleTestSupport
import Testing

/// `QuantizedCheckpointWriter` against the checkpoints transformers + bitsandbytes saved from the same weights.
@Suite struct QuantizedCheckpointWriterTests {
    static func output() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("nibble-quantized-\(UUID().uuidString)")
    }

    /// Writes llama-tiny quantized per `json` into a new directory.
    static func write(_ json: String, dtype: QuantizedCheckpointWriter.WeightDType) throws -> URL {
        let out = output()
        _ = try QuantizedCheckpointWriter.write(from: SharedFixtures.model("llama-tiny"), to: out,
                                                quantizationConfigJSON: Data(json.utf8), dtype: dtype)
        return out
    }

    /// Every tensor equal in name, dtype, shape and bytes; then the files themselves.
    static func expectSameTensors(_ written: URL, _ fixture: String) throws {
        let ours = try SafetensorsArchive(directory: written)
        let theirs = try SafetensorsArchive(directory: SharedFixtures.model(fixture))
        #expect(ours.tensorNames == theirs.tensorNames)
        for name in theirs.tensorNames {
            let a = try ours.tensor(name), b = try theirs.tensor(name)
            #expect(a.dtype == b.dtype && a.shape == b.shape, "\(name): \(a.dtype) \(a.shape) vs \(b.dtype) \(b.shape)")
            #expect(a.data() == b.data(), "\(name) bytes")
        }
        #expect(ours.files[0].metadata == theirs.files[0].metadata)
        let file = "model.safetensors"
        #expect(try Data(contentsOf: written.appendingPathComponent(file))
            == Data(contentsOf: SharedFixtures.model(fixture).appendingPathComponent(file)), "whole \(file)")
    }

    static func jsonObject(_ url: URL) throws -> NSDictionary {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! NSDictionary
    }

    static func expectSameConfig(_ written: URL, _ fixture: String) throws {
        let ours = try jsonObject(written.appendingPathComponent("config.json"))
        let theirs = try jsonObject(SharedFixtures.model(fixture).appendingPathComponent("config.json"))
        #expect((ours["quantization_config"] as? NSDictionary) == (theirs["quantization_config"] as? NSDictionary))
        #expect(ours == theirs)
        // transformers writes json.dumps(indent=2, sort_keys=True): the bytes agree too.
        #expect(try Data(contentsOf: written.appendingPathComponent("config.json"))
            == Data(contentsOf: SharedFixtures.model(fixture).appendingPathComponent("config.json")))
    }

    @Test func nf4DoubleQuantIsByteIdenticalToTransformers() throws {
        // The fixture was saved from a float32 load of llama-tiny (its config.json says dtype float32).
        let out = try Self.write(#"{"load_in_4bit": true, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true}"#,
                                 dtype: .float32)
        defer { try? FileManager.default.removeItem(at: out) }
        try Self.expectSameTensors(out, "llama-tiny-bnb-nf4-dq")
        try Self.expectSameConfig(out, "llama-tiny-bnb-nf4-dq")
        for file in ["generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json"] {
            #expect(try Data(contentsOf: out.appendingPathComponent(file))
                == Data(contentsOf: SharedFixtures.model("llama-tiny").appendingPathComponent(file)), "\(file) copied")
        }

        // The written checkpoint loads with its own tokenizer and generates bitsandbytes' greedy ids.
        let loaded = try ModelLoader.load(directory: out)
        let (reference, _) = try ReferenceFile.load("llama-tiny-bnb-nf4-dq")
        for c in reference.cases {
            #expect(loaded.tokenizer.encode(c.prompt, addSpecialTokens: true) == c.input_ids)
            let (_, ids) = try LlamaReferenceTests.greedy(loaded, prompt: c.input_ids, count: c.greedy_new_ids.count)
            #expect(ids == c.greedy_new_ids)
        }
    }

    @Test func int8IsByteIdenticalToTransformers() throws {
        let out = try Self.write(#"{"load_in_8bit": true}"#, dtype: .float32)
        defer { try? FileManager.default.removeItem(at: out) }
        try Self.expectSameTensors(out, "llama-tiny-bnb-int8")
        try Self.expectSameConfig(out, "llama-tiny-bnb-int8")
        let written = try ModelLoader.load(directory: out)
        let saved = try PrequantizedCheckpointTests.load("llama-tiny-bnb-int8")
        for (a, b) in zip(try PrequantizedCheckpointTests.run(written, reference: "llama-tiny-bnb-int8"),
                          try PrequantizedCheckpointTests.run(saved, reference: "llama-tiny-bnb-int8")) {
            #expect(a.logits == b.logits)
            #expect(a.ids == b.ids)
        }
    }

    @Test func fp4WithoutDoubleQuantRoundTripsThroughTheLoader() throws {
        // No saved fp4 fixture: the written checkpoint must behave exactly like quantizing at load, and match
        // bitsandbytes' fp4 logits as closely.
        let json = #"{"load_in_4bit": true, "bnb_4bit_quant_type": "fp4"}"#
        let out = try Self.write(json, dtype: .auto)
        defer { try? FileManager.default.removeItem(at: out) }
        let archive = try SafetensorsArchive(directory: out)
        #expect(archive.tensorNames.contains("model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__fp4"))
        #expect(!archive.tensorNames.contains { $0.contains("nested") })
        #expect(try archive.tensor("model.embed_tokens.weight").dtype == .f16)  // auto keeps the stored type
        let blob = try archive.tensor("model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__fp4").data()
        let state = try JSONSerialization.jsonObject(with: Data(blob)) as! [String: Any]
        #expect(state["dtype"] as? String == "float16")

        let written = try ModelLoader.load(directory: out)
        var options = LoadOptions()
        options.quantizationConfigJSON = Data(json.utf8)
        let atLoad = try ModelLoader.load(directory: SharedFixtures.model("llama-tiny"), options: options)
        for (a, b) in zip(try PrequantizedCheckpointTests.run(written, reference: "llama-tiny-bnb-fp4"),
                          try PrequantizedCheckpointTests.run(atLoad, reference: "llama-tiny-bnb-fp4")) {
            #expect(a.logits == b.logits)
            #expect(a.ids == b.ids)
        }
        let (diff, _) = try QuantizedModelTests.compare(written, reference: "llama-tiny-bnb-fp4")
        #expect(diff < 1e-3)
    }

    @Test func aLoRAIsMergedBeforeQuantizingAsAtLoad() throws {
        // Guanaco: quantizing base + adapter once must give the model that loading the base with the adapter and
        // quantizing at load gives, to the last bit.
        let json = #"{"load_in_4bit": true, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true}"#
        let lora = SharedFixtures.model("guanaco-tiny-lora")
        let out = Self.output()
        defer { try? FileManager.default.removeItem(at: out) }
        let summary = try QuantizedCheckpointWriter.write(from: SharedFixtures.model("llama-tiny"), to: out,
                                                          quantizationConfigJSON: Data(json.utf8), loraDirectory: lora)
        #expect(summary.quantizedModules.count == 14)
        let written = try ModelLoader.load(directory: out, options: LoadOptions(adapterName: "guanaco"))
        var options = LoadOptions(adapterName: "guanaco")
        options.loraDirectory = lora
        options.quantizationConfigJSON = Data(json.utf8)
        let atLoad = try ModelLoader.load(directory: SharedFixtures.model("llama-tiny"), options: options)
        for (a, b) in zip(try PrequantizedCheckpointTests.run(written, reference: "guanaco-tiny-merged-fp32"),
                          try PrequantizedCheckpointTests.run(atLoad, reference: "guanaco-tiny-merged-fp32")) {
            #expect(a.logits == b.logits)
            #expect(a.ids == b.ids)
        }
    }

    @Test func refusals() throws {
        let json = Data(#"{"load_in_4bit": true}"#.utf8)
        #expect(throws: ModelError.self) {  // already quantized
            try QuantizedCheckpointWriter.write(from: SharedFixtures.model("llama-tiny-bnb-nf4-dq"), to: Self.output(),
                                                quantizationConfigJSON: json)
        }
        #expect(throws: ModelError.self) {  // nothing to quantize
            try QuantizedCheckpointWriter.write(from: SharedFixtures.model("llama-tiny"), to: Self.output(),
                                                quantizationConfigJSON: Data("{}".utf8))
        }
        #expect(throws: ModelError.self) {  // the output already holds a checkpoint
            try QuantizedCheckpointWriter.write(from: SharedFixtures.model("llama-tiny"), to: SharedFixtures.model("llama-tiny-bnb-int8"),
                                                quantizationConfigJSON: json)
        }
    }
}
