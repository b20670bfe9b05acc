import Foundation
import NibbleFormats
import NibbleModels
import NibbleTestSupport
import Testing

/// `nibble quantize` export and PEFT LoRA merging for every family.
@Suite struct FamilyCheckpointTests {
    static func temporary(_ label: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("nibble-\(label)-\(UUID().uuidString)")
    }

    /// Logits of every position of the first reference prompt.
    static func promptLogits(_ loaded: LoadedModel, _ fixture: FamilyFixture) throws -> [Float] {
        let (reference, _) = try ReferenceFile.load(fixture.reference)
        let ids = reference.cases[0].input_ids
        return try loaded.model.forward(ids, cache: loaded.model.makeCache(capacity: ids.count), allLogits: true)
    }

    /// A checkpoint quantized once and saved loads as saved, computing exactly what quantizing at load computes;
    /// the module names are the family's own.
    @Test(arguments: FamilyFixture.allCases)
    func exportedCheckpointLoadsLikeQuantizingAtLoad(_ fixture: FamilyFixture) throws {
        let json = FamilyQuantizationTests.nf4
        let out = Self.temporary("export")
        defer { try? FileManager.default.removeItem(at: out) }
        let summary = try QuantizedCheckpointWriter.write(from: fixture.directory, to: out, quantizationConfigJSON: Data(json.utf8))
        let layers = try ModelConfig(directory: fixture.directory).numHiddenLayers
        #expect(summary.quantizedModules.count == 7 * layers)  // lm_head stays float (llm_int8_skip_modules)
        #expect(summary.quantizedModules.contains("model.layers.1.self_attn.k_proj"))
        let archive = try SafetensorsArchive(directory: out)
        if fixture == .qwen3 {
            #expect(try archive.tensor("model.layers.0.self_attn.q_norm.weight").dtype == .f16)  // a norm, not quantized
        }
        if fixture == .qwen2 {
            #expect(try archive.tensor("model.layers.0.self_attn.q_proj.bias").dtype == .f16)
        }
        let saved = try ModelLoader.load(directory: out)
        let atLoad = try FamilyQuantizationTests.load(fixture, quantization: json)
        #expect(saved.memory.bytesByFormat["nf4+dq"] == atLoad.memory.bytesByFormat["nf4+dq"])
        #expect(try Self.promptLogits(saved, fixture) == Self.promptLogits(atLoad, fixture))
    }

    /// A seeded PEFT adapter on q, v and down projections, merged at load, against the same update merged here
    /// into a float32 copy of the checkpoint.
    @Test(arguments: FamilyFixture.allCases)
    func loraMergesIntoEveryFamily(_ fixture: FamilyFixture) throws {
        let base = try SafetensorsArchive(directory: fixture.directory)
        let adapterDirectory = Self.temporary("lora"), merged = Self.temporary("merged")
        defer {
            try? FileManager.default.removeItem(at: adapterDirectory)
            try? FileManager.default.removeItem(at: merged)
        }
        let rank = 4, alpha = 8.0, scaling = Float(alpha / Double(rank))
        var random = SeededRandom(seed: 7)
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -0.05...0.05, using: &random) } }
        func bytes(_ floats: [Float]) -> [UInt8] { floats.withUnsafeBytes { Array($0) } }
        let modules = ["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.v_proj", "model.layers.1.mlp.down_proj"]
        var adapterTensors: [TensorRecord] = []
        var updated: [String: [Float]] = [:]
        for module in modules {
            let weight = try base.tensor(module + ".weight")
            let (out, inputs) = (weight.shape[0], weight.shape[1])
            let a = values(rank * inputs), b = values(out * rank)  // (r, in), (out, r)
            adapterTensors.append(TensorRecord(name: "base_model.model.\(module).lora_A.weight", dtype: .f32, shape: [rank, inputs], bytes: bytes(a)))
            adapterTensors.append(TensorRecord(name: "base_model.model.\(module).lora_B.weight", dtype: .f32, shape: [out, rank], bytes: bytes(b)))
            var w = weight.floats()
            for o in 0..<out {
                for i in 0..<inputs {
                    var sum: Float = 0
                    for r in 0..<rank { sum += b[o * rank + r] * a[r * inputs + i] }
                    w[o * inputs + i] += scaling * sum
                }
            }
            updated[module + ".weight"] = w
        }
        let fm = FileManager.default
        try fm.createDirectory(at: adapterDirectory, withIntermediateDirectories: true)
        try SafetensorsWriter.write(adapterTensors, ordering: .byName, to: adapterDirectory.appendingPathComponent("adapter_model.safetensors"))
        try Data(#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj", "down_proj"]}"#.utf8)
            .write(to: adapterDirectory.appendingPathComponent("adapter_config.json"))

        try fm.createDirectory(at: merged, withIntermediateDirectories: true)
        let records = try base.tensorNames.map { name -> TensorRecord in
            let view = try base.tensor(name)
            if let w = updated[name] { return TensorRecord(name: name, dtype: .f32, shape: view.shape, bytes: bytes(w)) }
            return TensorRecord(name: name, dtype: view.dtype, shape: view.shape, bytes: view.data())
        }
        try SafetensorsWriter.write(records, ordering: .byName, to: merged.appendingPathComponent("model.safetensors"))
        for file in try fm.contentsOfDirectory(atPath: fixture.directory.path) where !file.hasSuffix(".safetensors") {
            try fm.copyItem(at: fixture.directory.appendingPathComponent(file), to: merged.appendingPathComponent(file))
        }

        let withLoRA = try ModelLoader.load(directory: fixture.directory, options: LoadOptions(loraDirectory: adapterDirectory))
        let plain = try ModelLoader.load(directory: fixture.directory)
        let mergedModel = try ModelLoader.load(directory: merged)
        let ours = try Self.promptLogits(withLoRA, fixture)
        #expect(maxAbsDiff(ours, try Self.promptLogits(mergedModel, fixture)) <= 1e-5)
        #expect(maxAbsDiff(ours, try Self.promptLogits(plain, fixture)) > 1e-3, "the adapter changes the model")
    }
}
