import Foundation
import NibbleFormats
import NibbleModels
import NibbleTestSupport
import Testing

/// Checkpoints saved already quantized by transformers + bitsandbytes, loaded from their stored tensors.
@Suite struct PrequantizedCheckpointTests {
    /// The pre-quantized fixtures were saved without tokenizer files; they share llama-tiny's.
    static func load(_ name: String, _ configure: (inout LoadOptions) -> Void = { _ in }) throws -> LoadedModel {
        var options = LoadOptions()
        configure(&options)
        return try ModelLoader.load(directory: SharedFixtures.model(name), options: options,
                                    tokenizer: .directory(SharedFixtures.model("llama-tiny")))
    }

    static func message(_ name: String, _ configure: (inout LoadOptions) -> Void = { _ in }) -> String {
        do {
            _ = try load(name, configure)
            return ""
        } catch {
            return "\(error)"
        }
    }

    /// Last-position logits and greedy ids of every reference prompt.
    static func run(_ loaded: LoadedModel, reference name: String) throws -> [(logits: [Float], ids: [Int])] {
        let (reference, _) = try ReferenceFile.load(name)
        return try reference.cases.map {
            let (logits, ids) = try LlamaReferenceTests.greedy(loaded, prompt: $0.input_ids, count: $0.greedy_new_ids.count)
            return (logits, ids)
        }
    }

    @Test func nf4DoubleQuantMatchesBitsAndBytes() throws {
        let loaded = try Self.load("llama-tiny-bnb-nf4-dq")
        #expect(loaded.memory.bytesByFormat["nf4+dq"] != nil)
        #expect(loaded.memory.bytesByFormat["f32"] != nil)  // embeddings, norms and the skipped lm_head
        let (diff, agreeing) = try QuantizedModelTests.compare(loaded, reference: "llama-tiny-bnb-nf4-dq")
        let (reference, _) = try ReferenceFile.load("llama-tiny-bnb-nf4-dq")
        print("pre-quantized nf4+dq: max |Δlogit| \(diff), greedy agreement \(agreeing) of \(reference.cases.map(\.greedy_new_ids.count))")
        #expect(diff < 1e-3)
        #expect(zip(agreeing, reference.cases).allSatisfy { $0 == $1.greedy_new_ids.count })
    }

    @Test func nf4DoubleQuantIsIdenticalToQuantizingAtLoad() throws {
        let saved = try Self.load("llama-tiny-bnb-nf4-dq")
        var options = LoadOptions()
        options.quantizationConfigJSON = Data(#"{"load_in_4bit": true, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true}"#.utf8)
        let atLoad = try ModelLoader.load(directory: SharedFixtures.model("llama-tiny"), options: options)
        let a = try Self.run(saved, reference: "llama-tiny-bnb-nf4-dq")
        let b = try Self.run(atLoad, reference: "llama-tiny-bnb-nf4-dq")
        for (x, y) in zip(a, b) {
            #expect(x.logits == y.logits)
            #expect(x.ids == y.ids)
        }
        #expect(saved.memory.bytesByFormat["nf4+dq"] == atLoad.memory.bytesByFormat["nf4+dq"])
    }

    @Test func int8MatchesBitsAndBytes() throws {
        let loaded = try Self.load("llama-tiny-bnb-int8")
        #expect(loaded.memory.bytesByFormat["int8"] != nil)
        let (diff, agreeing) = try QuantizedModelTests.compare(loaded, reference: "llama-tiny-bnb-int8")
        print("pre-quantized int8: max |Δlogit| \(diff), greedy agreement \(agreeing)")
        // Same bound and reasoning as quantize-at-load (QuantizedModelTests.int8WithOutlierThreshold).
        #expect(diff < 0.05)
        #expect(agreeing.allSatisfy { $0 >= 2 })

        var options = LoadOptions()
        options.quantizationConfigJSON = Data(#"{"load_in_8bit": true}"#.utf8)
        let atLoad = try ModelLoader.load(directory: SharedFixtures.model("llama-tiny"), options: options)
        let a = try Self.run(loaded, reference: "llama-tiny-bnb-int8")
        let b = try Self.run(atLoad, reference: "llama-tiny-bnb-int8")
        for (x, y) in zip(a, b) { #expect(x.ids == y.ids) }
    }

    @Test func offloadedLayersStayQuantizedAndGiveTheSameIds() throws {
        // Footprints are the stored tensor sizes. Pick the cpu budget that holds the embeddings and layer 0 but
        // not layer 1, after bitsandbytes' 10% headroom and the room reserved for the largest layer.
        let archive = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny-bnb-nf4-dq"))
        func stored(_ prefix: String) -> Int {
            archive.tensorNames.filter { $0.hasPrefix(prefix + ".") }.reduce(0) { $0 + archive.tensorIfPresent($1)!.byteRange.count }
        }
        let embed = stored("model.embed_tokens"), layer0 = stored("model.layers.0"), layer1 = stored("model.layers.1")
        let budget = Int(Double(embed + layer0 + layer1 / 2 + max(layer0, layer1)) / 0.9) + 1
        let offloaded = try Self.load("llama-tiny-bnb-nf4-dq") { $0.maxMemory = [.cpu: budget] }
        #expect(offloaded.placement.tier(of: "model.layers.0") == .cpu)
        #expect(offloaded.placement.tier(of: "model.layers.1") == .disk)
        #expect(offloaded.placement.tier(of: "lm_head") == .disk)
        #expect(offloaded.placement.assignments.first { $0.module == "model.layers.1" }!.bytes == layer1)
        #expect(offloaded.memory.bytesByTier["disk", default: 0] > stored("lm_head"))
        #expect(offloaded.memory.bytesByFormat["nf4+dq", default: 0] > 0)

        let resident = try Self.load("llama-tiny-bnb-nf4-dq")
        for (x, y) in zip(try Self.run(offloaded, reference: "llama-tiny-bnb-nf4-dq"),
                          try Self.run(resident, reference: "llama-tiny-bnb-nf4-dq")) {
            #expect(x.logits == y.logits)
            #expect(x.ids == y.ids)
        }
        // Everything on disk works too, for both formats.
        let allDisk = try Self.load("llama-tiny-bnb-int8") { $0.deviceMap = .all(.disk) }
        #expect(allDisk.memory.bytesByTier["cpu", default: 0] < 10_000)
        let (diff, _) = try QuantizedModelTests.compare(allDisk, reference: "llama-tiny-bnb-int8")
        #expect(diff < 0.05)
    }

    @Test func loraMergesIntoPrequantizedWeights() throws {
        // As PEFT merges into a 4-bit base: dequantize, add the update, quantize again with the stored settings.
        let merged = try Self.load("llama-tiny-bnb-nf4-dq") { options in
            options.adapterName = "guanaco"
            options.loraDirectory = SharedFixtures.model("guanaco-tiny-lora")
        }
        #expect(merged.memory.bytesByFormat["nf4+dq"] == (try Self.load("llama-tiny-bnb-nf4-dq")).memory.bytesByFormat["nf4+dq"])
        // The adapter takes effect: logits move towards the float LoRA reference, away from the plain base.
        let (withAdapter, _) = try QuantizedModelTests.compare(merged, reference: "guanaco-tiny-merged-fp32")
        let (without, _) = try QuantizedModelTests.compare(try Self.load("llama-tiny-bnb-nf4-dq"), reference: "guanaco-tiny-merged-fp32")
        print("nf4+dq with LoRA vs float LoRA reference: \(withAdapter); without the adapter: \(without)")
        #expect(withAdapter < without)
    }

    @Test func matchingFlagsAreAcceptedConflictingOnesNamed() throws {
        _ = try Self.load("llama-tiny-bnb-nf4-dq") {
            $0.quantizationConfigJSON = Data(#"{"load_in_4bit": true, "bnb_4bit_quant_type": "nf4"}"#.utf8)
        }
        let wrongBits = Self.message("llama-tiny-bnb-nf4-dq") { $0.quantizationConfigJSON = Data(#"{"load_in_8bit": true}"#.utf8) }
        #expect(wrongBits.contains("load_in_8bit: given true, checkpoint has false"))
        let wrongDType = Self.message("llama-tiny-bnb-nf4-dq") {
            $0.quantizationConfigJSON = Data(#"{"load_in_4bit": true, "bnb_4bit_compute_dtype": "bfloat16"}"#.utf8)
        }
        #expect(wrongDType.contains("bnb_4bit_compute_dtype"))
        #expect(!wrongDType.contains("load_in_4bit:"))
        let threshold = Self.message("llama-tiny-bnb-int8") { $0.quantizationConfigJSON = Data(#"{"llm_int8_threshold": 0.0}"#.utf8) }
        #expect(threshold.contains("llm_int8_threshold"))
        let unknown = Self.message("llama-tiny-bnb-int8") { $0.quantizationConfigJSON = Data(#"{"load_in_9bit": true}"#.utf8) }
        #expect(unknown.contains("load_in_9bit"))
    }
}

/// Damaged or inconsistent pre-quantized checkpoints give errors naming the tensor or field.
@Suite struct PrequantizedCheckpointErrorTests {
    /// A copy of fixture `name` with its tensors passed through `edit` (and config.json through `editConfig`).
    static func damaged(_ name: String, edit: (inout [TensorRecord]) -> Void,
                        editConfig: (inout [String: Any]) -> Void = { _ in }) throws -> URL {
        let source = SharedFixtures.model(name)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-damaged-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let archive = try SafetensorsArchive(directory: source)
        var records = try archive.tensorNames.map { name in
            let view = try archive.tensor(name)
            return TensorRecord(name: name, dtype: view.dtype, shape: view.shape, bytes: view.data())
        }
        edit(&records)
        try SafetensorsWriter.write(records, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors"))
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        editConfig(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: directory.appendingPathComponent("config.json"))
        return directory
    }

    static func message(_ directory: URL) -> String {
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            _ = try ModelLoader.load(directory: directory, options: LoadOptions(), tokenizer: .checkpointIfPresent)
            return ""
        } catch {
            return "\(error)"
        }
    }

    static func replace(_ records: inout [TensorRecord], _ name: String, _ change: (inout TensorRecord) -> Void) {
        let index = records.firstIndex { $0.name == name }!
        change(&records[index])
    }

    static let q = "model.layers.0.self_attn.q_proj.weight"

    @Test func quantStateShapeThatDisagreesWithTheModel() throws {
        let blob = Self.q + ".quant_state.bitsandbytes__nf4"
        let text = try Self.message(Self.damaged("llama-tiny-bnb-nf4-dq") { records in
            Self.replace(&records, blob) { record in
                let json = String(decoding: record.bytes, as: UTF8.self).replacingOccurrences(of: "[128, 128]", with: "[64, 128]")
                record.bytes = Array(json.utf8)
                record.shape = [record.bytes.count]
            }
        })
        #expect(text.contains(blob) && text.contains("[64, 128]"), "\(text)")
    }

    @Test func truncatedAbsmax() throws {
        let text = try Self.message(Self.damaged("llama-tiny-bnb-nf4-dq") { records in
            Self.replace(&records, Self.q + ".absmax") { $0.bytes.removeLast(); $0.shape = [$0.bytes.count] }
        })
        #expect(text.contains(Self.q + ".absmax") && text.contains("expected U8 [256]"), "\(text)")
    }

    @Test func packedCodesOfTheWrongSize() throws {
        let text = try Self.message(Self.damaged("llama-tiny-bnb-nf4-dq") { records in
            Self.replace(&records, Self.q) { $0.bytes.removeLast(64); $0.shape = [$0.bytes.count, 1] }
        })
        #expect(text.contains("'\(Self.q)'") && text.contains("expected U8 [8192, 1]"), "\(text)")
    }

    @Test func unknownAndMissingQuantStateKeys() throws {
        let blob = Self.q + ".quant_state.bitsandbytes__nf4"
        let unknown = try Self.message(Self.damaged("llama-tiny-bnb-nf4-dq") { records in
            Self.replace(&records, blob) { record in
                record.bytes = Array(String(decoding: record.bytes, as: UTF8.self).replacingOccurrences(of: "\"blocksize\"", with: "\"block_size\"").utf8)
                record.shape = [record.bytes.count]
            }
        })
        #expect(unknown.contains(blob) && unknown.contains("block_size"), "\(unknown)")
        let partial = try Self.message(Self.damaged("llama-tiny-bnb-nf4-dq") { records in
            Self.replace(&records, blob) { record in
                record.bytes = Array(String(decoding: record.bytes, as: UTF8.self).replacingOccurrences(of: "\"nested_dtype\": \"float32\", ", with: "").utf8)
                record.shape = [record.bytes.count]
            }
        })
        #expect(partial.contains("nested_dtype"), "\(partial)")
    }

    @Test func nestedTensorMissing() throws {
        let text = try Self.message(Self.damaged("llama-tiny-bnb-nf4-dq") { records in
            records.removeAll { $0.name == Self.q + ".nested_absmax" }
        })
        #expect(text.contains(Self.q + ".nested_absmax") && text.contains("missing"), "\(text)")
    }

    @Test func int8ScaleOfTheWrongShape() throws {
        let scb = "model.layers.1.mlp.up_proj.SCB"
        let text = try Self.message(Self.damaged("llama-tiny-bnb-int8") { records in
            Self.replace(&records, scb) { $0.bytes.removeLast(4); $0.shape = [$0.shape[0] - 1] }
        })
        #expect(text.contains(scb) && text.contains("expected F32 [384]"), "\(text)")
        let format = "model.layers.0.mlp.up_proj.weight_format"
        let tiled = try Self.message(Self.damaged("llama-tiny-bnb-int8") { records in
            Self.replace(&records, format) { $0.bytes = [2] }
        })
        #expect(tiled.contains(format), "\(tiled)")
    }

    @Test func configAndTensorsThatDisagree() throws {
        // 4-bit tensors under an 8-bit config.
        let mismatch = try Self.message(Self.damaged("llama-tiny-bnb-nf4-dq", edit: { _ in }) { config in
            var q = config["quantization_config"] as! [String: Any]
            q["load_in_4bit"] = false; q["_load_in_4bit"] = false; q["load_in_8bit"] = true; q["_load_in_8bit"] = true
            config["quantization_config"] = q
        })
        #expect(mismatch.contains("quant_state") && mismatch.contains("8-bit"), "\(mismatch)")
        // Quantized tensors with no quantization_config.
        let missing = try Self.message(Self.damaged("llama-tiny-bnb-int8", edit: { _ in }) { config in
            config.removeValue(forKey: "quantization_config")
        })
        #expect(missing.contains("no quantization_config"), "\(missing)")
        // A quantization_config over float weights.
        let float = try Self.message(Self.damaged("llama-tiny", edit: { _ in }) { config in
            config["quantization_config"] = ["load_in_4bit": true, "quant_method": "bitsandbytes"]
        })
        #expect(float.contains("no quantized tensors"), "\(float)")
    }
}
