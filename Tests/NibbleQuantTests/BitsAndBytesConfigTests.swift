import Foundation
import Testing
@testable import NibbleQuant
import NibbleTestSupport

@Suite struct BitsAndBytesConfigTests {
    @Test func defaultsMatchTransformers() throws {
        let c = try JSONDecoder().decode(BitsAndBytesConfig.self, from: Data("{}".utf8))
        #expect(!c.loadIn8bit && !c.loadIn4bit && c.llmInt8Threshold == 6.0 && c.llmInt8SkipModules == nil)
        #expect(c.bnb4bitQuantType == "fp4" && c.bnb4bitComputeDtype == "float32" && c.bnb4bitQuantStorage == "uint8")
        #expect(c.quantMethod == "bitsandbytes" && !c.bnb4bitUseDoubleQuant && !c.llmInt8HasFp16Weight)
        #expect(try c.validated().mode == .none)
    }

    @Test func roundTripUsesExactFieldNames() throws {
        var c = BitsAndBytesConfig()
        c.loadIn4bit = true; c.bnb4bitQuantType = "nf4"; c.bnb4bitUseDoubleQuant = true
        let enc = JSONEncoder(); enc.outputFormatting = .sortedKeys
        let json = String(decoding: try enc.encode(c), as: UTF8.self)
        for key in ["load_in_8bit", "load_in_4bit", "llm_int8_threshold", "llm_int8_skip_modules",
                    "llm_int8_enable_fp32_cpu_offload", "llm_int8_has_fp16_weight", "bnb_4bit_quant_type",
                    "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype", "bnb_4bit_quant_storage", "quant_method"] {
            #expect(json.contains("\"\(key)\""), "\(key)")
        }
        #expect(try JSONDecoder().decode(BitsAndBytesConfig.self, from: Data(json.utf8)) == c)
    }

    @Test func checkpointConfigDecodes() throws {
        let url = SharedFixtures.model("llama-tiny-bnb-nf4-dq").appendingPathComponent("config.json")
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let qc = try JSONSerialization.data(withJSONObject: root["quantization_config"]!)
        let c = try BitsAndBytesConfig.decodeStrict(from: qc)  // `_load_in_4bit` etc. tolerated
        #expect(try c.validated().mode == .fourBit(type: .nf4, doubleQuant: true, computeDType: .float32))
    }

    @Test func errorsNameTheField() throws {
        #expect(throws: QuantizationError.unknownKeys(["load_in_3bit"])) {
            try BitsAndBytesConfig.decodeStrict(from: Data(#"{"load_in_3bit": true}"#.utf8))
        }
        var c = BitsAndBytesConfig(); c.loadIn4bit = true; c.loadIn8bit = true
        #expect(throws: QuantizationError.self) { try c.validated() }
        c.loadIn8bit = false; c.bnb4bitQuantType = "nf3"
        do { _ = try c.validated(); Issue.record("no error") } catch let e as QuantizationError {
            #expect(e.description.contains("bnb_4bit_quant_type"))
        }
        c.bnb4bitQuantType = "nf4"; c.bnb4bitComputeDtype = "torch.bfloat16"
        #expect(try c.validated().mode == .fourBit(type: .nf4, doubleQuant: false, computeDType: .bfloat16))
    }

    @Test func skipModules() throws {
        var c = BitsAndBytesConfig(); c.loadIn8bit = true
        let plan = try c.validated()
        #expect(!plan.shouldQuantize(moduleName: "lm_head"))
        #expect(plan.shouldQuantize(moduleName: "model.layers.0.mlp.down_proj"))
        c.llmInt8SkipModules = ["mlp"]
        let custom = try c.validated()
        #expect(custom.shouldQuantize(moduleName: "lm_head"))  // a user list replaces the default
        #expect(!custom.shouldQuantize(moduleName: "model.layers.0.mlp.down_proj"))
    }
}
