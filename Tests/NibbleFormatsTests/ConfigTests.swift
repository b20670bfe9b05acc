import Foundation
import NibbleFormats
import NibbleTestSupport
import Testing

/// config.json in both transformers styles, and generation_config.json.
@Suite struct ConfigTests {
    @Test func newerStyle() throws {
        let config = try ModelConfig(directory: SharedFixtures.model("llama-tiny"))
        #expect(config.hiddenSize == 128 && config.numHiddenLayers == 2 && config.numAttentionHeads == 4)
        #expect(config.numKeyValueHeads == 2 && config.vocabSize == 32000)
        #expect(config.modelType == "llama" && config.architectures == ["LlamaForCausalLM"])
        #expect(config.torchDtype == "float16")
        #expect(config.eosTokenIds == [2] && config.bosTokenId == 1)
        #expect(config.quantizationConfigJSON == nil)
    }

    @Test func olderStyle() throws {
        let config = try ModelConfig(directory: SharedFixtures.model("llama-tiny-sharded-bf16"))
        #expect(config.torchDtype == "bfloat16")
        #expect(config.rmsNormEps == 1e-5)
    }

    @Test func quantizationConfigIsKept() throws {
        let config = try ModelConfig(directory: SharedFixtures.model("llama-tiny-bnb-nf4-dq"))
        let json = try #require(config.quantizationConfigJSON)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["bnb_4bit_quant_type"] as? String == "nf4")
    }

    @Test func generationConfig() throws {
        let generation = try GenerationConfig(directory: SharedFixtures.model("kjv-llama-4m"))
        #expect(generation.repetitionPenalty == 1.1 && generation.temperature == 0.8 && generation.topP == 0.95)
        #expect(generation.eosTokenIds == [2] && generation.maxNewTokens == 128 && generation.doSample == true)
        let empty = try GenerationConfig(directory: URL(fileURLWithPath: "/nonexistent"))
        #expect(empty == GenerationConfig())
    }

    @Test func badConfigsAreClearErrors() {
        #expect(throws: FormatError.invalidConfig(path: "c", reason: "not a JSON object")) {
            try ModelConfig(json: Data("[1]".utf8), path: "c")
        }
        #expect(throws: FormatError.invalidConfig(path: "c", reason: "missing field 'hidden_size'")) {
            try ModelConfig(json: Data("{}".utf8), path: "c")
        }
        let gqa = #"{"hidden_size":64,"intermediate_size":128,"num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":3,"vocab_size":10}"#
        #expect(throws: FormatError.self) { try ModelConfig(json: Data(gqa.utf8), path: "c") }
        let typed = #"{"hidden_size":"64","intermediate_size":128,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10}"#
        #expect(throws: FormatError.invalidConfig(path: "c", reason: "field 'hidden_size' must be an integer")) {
            try ModelConfig(json: Data(typed.utf8), path: "c")
        }
    }
}
