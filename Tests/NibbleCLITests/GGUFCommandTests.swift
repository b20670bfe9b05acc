import Foundation
import NibbleTestSupport
import Testing

/// `--model FILE.gguf` on the command line: inspect reports the file's own description, generate matches
/// transformers' greedy output for the same file.
@Suite(.enabled(if: RealModelFixtures.smolLM2GGUF != nil, Comment(rawValue: RealModelFixtures.smolLM2Missing)))
struct GGUFCommandTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            let prompt: String
            let input_ids: [Int]
            let greedy_new_ids: [Int]
        }
        let cases: [Case]
    }

    @Test func inspectShowsGGUFMetadata() throws {
        let run = try CommandRunner.nibble(["inspect", "--model", RealModelFixtures.smolLM2GGUF!.path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let gguf = try #require(object["gguf"] as? [String: Any], "no gguf section: \(run.stdout)")
        // As gguf-py's GGUFReader lists the file.
        #expect(gguf["version"] as? Int == 3)
        #expect(gguf["architecture"] as? String == "llama")
        #expect(gguf["name"] as? String == "Smollm2 135M 8k Lc100K Mix1 Ep2")
        #expect(gguf["tensor_types"] as? [String: Int] == ["Q4_1": 210, "F32": 61, "Q8_0": 1])
        #expect(gguf["tokenizer_model"] as? String == "gpt2" && gguf["tokenizer_pre"] as? String == "smollm")
        #expect(gguf["context_length"] as? Int == 8192 && gguf["chat_template"] as? Bool == true)
        #expect(object["num_hidden_layers"] as? Int == 30 && object["vocab_size"] as? Int == 49152)

        let text = try CommandRunner.nibble(["inspect", "--model", RealModelFixtures.smolLM2GGUF!.path])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("architecture llama") && text.stdout.contains("Q4_1 × 210, F32 × 61, Q8_0 × 1"))
        #expect(text.stdout.contains("gpt2 (pre smollm), chat template"))
    }

    @Test func generateMatchesTransformers() throws {
        let reference = try SharedFixtures.decodeReference(Reference.self, "smollm2/smollm2-135m-instruct-q4_1-fp32.json")
        let c = reference.cases[0]
        let run = try CommandRunner.nibble([
            "generate", "--model", RealModelFixtures.smolLM2GGUF!.path, "--prompt", c.prompt,
            "--max-new-tokens", "12", "--temperature", "0", "--json",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["input_ids"] as? [Int] == c.input_ids)
        #expect(object["new_ids"] as? [Int] == Array(c.greedy_new_ids.prefix(12)))
    }

    /// llama-tiny's adapter over SmolLM2 (width 576 against 64) is refused, naming the first module whose shape
    /// does not fit.
    @Test func loraForAnotherModelOnAGGUFIsAClearError() throws {
        let run = try CommandRunner.nibble(["generate", "--model", RealModelFixtures.smolLM2GGUF!.path, "--prompt", "x",
                                            "--lora", SharedFixtures.model("guanaco-tiny-lora").path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("LoRA update for 'model.layers.0.self_attn.q_proj' does not match"), "\(run.stderr)")
    }
}
