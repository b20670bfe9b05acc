import Foundation
import NibbleTestSupport
import NibbleTokenizer
import Testing

/// `nibble generate` as a user runs it: one JSON object per run, matching transformers' greedy output.
@Suite struct GenerateCommandTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            let prompt: String
            let input_ids: [Int]
            let greedy_new_ids: [Int]
            let greedy_text: String
        }
        let cases: [Case]
    }

    @Test func greedyJSONMatchesTransformers() throws {
        let reference = try SharedFixtures.decodeReference(Reference.self, "llama-tiny-fp32.json")
        let tokenizer = try Tokenizers.load(directory: SharedFixtures.model("llama-tiny"))
        for c in reference.cases.prefix(3) {
            let run = try CommandRunner.nibble([
                "generate", "--model", SharedFixtures.model("llama-tiny").path, "--prompt", c.prompt,
                "--max-new-tokens", "\(c.greedy_new_ids.count)", "--temperature", "0", "--json",
            ])
            #expect(run.status == 0, "\(run.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            #expect(object["input_ids"] as? [Int] == c.input_ids)
            #expect(object["new_ids"] as? [Int] == c.greedy_new_ids)
            // The reference decodes the new ids on their own, which drops the first one's leading space; the
            // output continues the prompt, so it keeps it.
            let text = try #require(object["text"] as? String)
            #expect(text == c.greedy_text || text == " " + c.greedy_text)
            #expect(text.hasPrefix(" ") == (tokenizer.tokenString(for: c.greedy_new_ids[0])?.hasPrefix("▁") ?? false))
            #expect(object["finish_reason"] as? String == "length")
        }
    }

    @Test func plainModeStreamsTextOfTheEmbeddedModel() throws {
        let run = try CommandRunner.nibble(["generate", "--prompt", "In the beginning", "--max-new-tokens", "12", "--seed", "7"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!run.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        #expect(run.stderr.contains("new tokens"))
        // Seeded sampling repeats exactly.
        let again = try CommandRunner.nibble(["generate", "--prompt", "In the beginning", "--max-new-tokens", "12", "--seed", "7"])
        #expect(again.stdout == run.stdout)
    }

    @Test func badInputIsAClearError() throws {
        let missing = try CommandRunner.nibble(["generate", "--model", "/nonexistent/model", "--prompt", "x"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("/nonexistent/model"))
        let badTemperature = try CommandRunner.nibble(["generate", "--prompt", "x", "--temperature", "-1"])
        #expect(badTemperature.status != 0)
        #expect(badTemperature.stderr.contains("temperature"))
    }
}
