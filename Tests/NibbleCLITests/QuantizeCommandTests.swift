import Foundation
import NibbleTestSupport
import Testing

/// `nibble quantize` and loading its output, as a user runs them.
@Suite struct QuantizeCommandTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            let prompt: String
            let greedy_new_ids: [Int]
        }
        let cases: [Case]
    }

    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("nibble-cli-quantize-\(UUID().uuidString)")
    }

    @Test func nf4DoubleQuantWritesTheTransformersCheckpoint() throws {
        let out = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try CommandRunner.nibble([
            "quantize", "--model", SharedFixtures.model("llama-tiny").path, "--out", out.path, "--load-in-4bit",
            "--bnb-4bit-quant-type", "nf4", "--bnb-4bit-use-double-quant", "--dtype", "float32",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("14 quantized modules"))
        let fixture = SharedFixtures.model("llama-tiny-bnb-nf4-dq")
        for file in ["model.safetensors", "config.json", "generation_config.json"] {
            #expect(try Data(contentsOf: out.appendingPathComponent(file)) == Data(contentsOf: fixture.appendingPathComponent(file)),
                    "\(file)")
        }

        let reference = try SharedFixtures.decodeReference(Reference.self, "llama-tiny-bnb-nf4-dq.json")
        let c = reference.cases[0]
        let generate = try CommandRunner.nibble([
            "generate", "--model", out.path, "--prompt", c.prompt, "--max-new-tokens", "\(c.greedy_new_ids.count)",
            "--temperature", "0", "--json",
        ])
        #expect(generate.status == 0, "\(generate.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(generate.stdout.utf8)) as? [String: Any])
        #expect(object["new_ids"] as? [Int] == c.greedy_new_ids)
    }

    @Test func inspectShowsAPrequantizedCheckpoint() throws {
        for (fixture, format) in [("llama-tiny-bnb-nf4-dq", "nf4+dq"), ("llama-tiny-bnb-int8", "int8")] {
            let run = try CommandRunner.nibble(["inspect", "--model", SharedFixtures.model(fixture).path, "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            #expect((object["quantization"] as? String)?.hasPrefix("pre-quantized") == true)
            #expect((object["bytes_by_format"] as? [String: Int])?[format] != nil)
            let text = try CommandRunner.nibble(["inspect", "--model", SharedFixtures.model(fixture).path,
                                                 "--max-memory", "cpu=1MB"])
            #expect(text.status == 0, "\(text.stderr)")
            #expect(text.stdout.contains("placement") && text.stdout.contains("→ disk"))
        }
    }

    /// `--llm-int8-skip-modules ""` is the empty list: the tied head of qwen2-tiny (vocab 49152, hidden 64) becomes
    /// an int8 copy of the embedding (CB + one f32 SCB per row); the default list keeps it as the embedding.
    @Test func emptySkipListQuantizesTheTiedHead() throws {
        func moduleBytes(_ extra: [String]) throws -> [String: Int] {
            let run = try CommandRunner.nibble(["inspect", "--model", SharedFixtures.model("qwen2-tiny").path,
                                                "--load-in-8bit", "--json"] + extra)
            #expect(run.status == 0, "\(run.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            return try #require(object["bytes_by_module_kind"] as? [String: Int])
        }
        #expect(try moduleBytes([])["lm_head"] == nil)
        #expect(try moduleBytes(["--llm-int8-skip-modules", ""])["lm_head"] == 49152 * 64 + 49152 * 4)
    }

    @Test func badInvocationsAreClearErrors() throws {
        let out = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let nothing = try CommandRunner.nibble(["quantize", "--model", SharedFixtures.model("llama-tiny").path, "--out", out.path])
        #expect(nothing.status != 0 && nothing.stderr.contains("--load-in-4bit"))
        let again = try CommandRunner.nibble(["quantize", "--model", SharedFixtures.model("llama-tiny-bnb-int8").path,
                                              "--out", out.path, "--load-in-8bit"])
        #expect(again.status != 0 && again.stderr.contains("already quantized"))
        let conflict = try CommandRunner.nibble(["inspect", "--model", SharedFixtures.model("llama-tiny-bnb-int8").path,
                                                 "--load-in-4bit"])
        #expect(conflict.status != 0 && conflict.stderr.contains("load_in_4bit: given true, checkpoint has false"))
    }
}
