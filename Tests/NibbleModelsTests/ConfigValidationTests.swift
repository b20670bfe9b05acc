import Foundation
import NibbleFormats
import NibbleModels
import Testing

/// Values in config.json and generation_config.json that no model can run with are load errors naming the field.
@Suite struct ConfigValidationTests {
    /// kjv-llama-4m's shape, with `change` applied.
    static func modelConfig(_ change: (inout [String: Any]) -> Void) throws -> Data {
        var object: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 192, "intermediate_size": 512,
            "num_hidden_layers": 6, "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 32,
            "vocab_size": 4096, "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "bos_token_id": 1, "eos_token_id": 2,
        ]
        change(&object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    static func modelError(_ change: (inout [String: Any]) -> Void) throws -> String? {
        do {
            // Shared fields are checked by ModelConfig, the rest by the family that reads them.
            _ = try ModelFamilies.resolve(try ModelConfig(json: try modelConfig(change), path: "config.json"))
            return nil
        } catch let error as FormatError {
            return error.description
        }
    }

    static func generationError(_ json: String) -> String? {
        do {
            _ = try GenerationConfig(json: Data(json.utf8), path: "generation_config.json")
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func theBaselineIsValid() throws {
        #expect(try Self.modelError { _ in } == nil)
        #expect(Self.generationError(#"{"temperature": 0, "top_p": 1, "top_k": 0, "repetition_penalty": 1.1, "eos_token_id": [2, 3]}"#) == nil)
    }

    @Test func modelConfigValuesAreCheckedByName() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("rope_theta", { $0["rope_theta"] = 0 }),
            ("rope_theta", { $0["rope_theta"] = -10000 }),
            ("rms_norm_eps", { $0["rms_norm_eps"] = 0 }),
            ("rms_norm_eps", { $0["rms_norm_eps"] = -1e-5 }),
            ("hidden_size", { $0["hidden_size"] = 0 }),
            ("num_hidden_layers", { $0["num_hidden_layers"] = -1 }),
            ("intermediate_size", { $0["intermediate_size"] = 1 << 40 }),
            ("num_key_value_heads", { $0["num_key_value_heads"] = 4 }),
            // Without head_dim, the heads must split hidden_size exactly.
            ("num_attention_heads", { $0["head_dim"] = nil; $0["num_attention_heads"] = 5 }),
            ("head_dim", { $0["head_dim"] = 33 }),
            ("eos_token_id", { $0["eos_token_id"] = 4096 }),
            ("eos_token_id", { $0["eos_token_id"] = [2, -1] }),
            ("eos_token_id", { $0["eos_token_id"] = [2, "x"] }),
            ("bos_token_id", { $0["bos_token_id"] = 5000 }),
            ("rope_type", { $0["rope_scaling"] = ["rope_type": "yarn", "factor": 2] }),
            ("factor", { $0["rope_scaling"] = ["rope_type": "linear", "factor": 0] }),
        ]
        for (field, change) in cases {
            let message = try #require(try Self.modelError(change), "expected an error naming \(field)")
            #expect(message.contains(field), "\(message)")
            #expect(message.hasPrefix("config.json"))
        }
        // head_dim given explicitly need not divide hidden_size.
        #expect(try Self.modelError { $0["num_attention_heads"] = 5; $0["num_key_value_heads"] = 5 } == nil)
    }

    @Test func generationConfigValuesAreCheckedByName() throws {
        for (json, field) in [(#"{"temperature": -0.1}"#, "temperature"),
                              (#"{"top_p": 0}"#, "top_p"),
                              (#"{"top_p": 1.5}"#, "top_p"),
                              (#"{"top_k": -1}"#, "top_k"),
                              (#"{"min_p": 2}"#, "min_p"),
                              (#"{"repetition_penalty": 0}"#, "repetition_penalty"),
                              (#"{"max_new_tokens": 0}"#, "max_new_tokens"),
                              (#"{"eos_token_id": -2}"#, "eos_token_id"),
                              (#"{"eos_token_id": [2, 2.5]}"#, "eos_token_id")] {
            let message = try #require(Self.generationError(json), "expected an error for \(json)")
            #expect(message.contains(field), "\(message)")
        }
        let config = try GenerationConfig(json: Data(#"{"eos_token_id": [2, 4096]}"#.utf8))
        #expect(throws: FormatError.self) { try config.validateTokenIds(vocabularySize: 4096) }
        try config.validateTokenIds(vocabularySize: 4097)
    }
}
