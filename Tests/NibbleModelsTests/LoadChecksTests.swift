import Foundation
import NibbleFormats
import NibbleModels
import NibbleTestSupport
import NibbleTokenizer
import Testing

/// A checkpoint whose files disagree with each other fails to load at once, naming what is wrong.
@Suite struct LoadChecksTests {
    /// A copy of kjv-llama-4m (weights linked, not copied) with `change` applied to its JSON files.
    static func alteredCheckpoint(_ file: String, _ change: (inout [String: Any]) -> Void) throws -> URL {
        let source = SharedFixtures.model("kjv-llama-4m")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-altered-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try FileManager.default.createSymbolicLink(at: copy.appendingPathComponent(name),
                                                       withDestinationURL: source.appendingPathComponent(name))
        }
        let url = copy.appendingPathComponent(file)
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        change(&object)
        try FileManager.default.removeItem(at: url)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return copy
    }

    static func loadError(_ directory: URL) -> String? {
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            _ = try ModelLoader.load(directory: directory)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func aConfigClaimingAMillionLayersFailsAtOnceNamingTheMissingTensor() throws {
        let directory = try Self.alteredCheckpoint("config.json") { $0["num_hidden_layers"] = 1_000_000 }
        let message = try #require(Self.loadError(directory))
        #expect(message.contains("model.layers.999999."), "\(message)")
    }

    @Test func sizesThatDisagreeWithTheTensorsNameTheTensor() throws {
        let wider = try Self.alteredCheckpoint("config.json") { $0["intermediate_size"] = 1024 }
        let message = try #require(Self.loadError(wider))
        #expect(message.contains("mlp.gate_proj.weight") && message.contains("[1024, 192]"), "\(message)")
        let vocab = try Self.alteredCheckpoint("config.json") { $0["vocab_size"] = 4000 }
        let vocabMessage = try #require(Self.loadError(vocab))
        #expect(vocabMessage.contains("vocab_size"), "\(vocabMessage)")
    }

    @Test func anAddedTokenBeyondTheModelVocabularyIsALoadErrorNamingIt() throws {
        let directory = try Self.alteredCheckpoint("tokenizer.json") { object in
            var added = object["added_tokens"] as? [[String: Any]] ?? []
            added.append(["id": 4096, "content": "<|beyond|>", "special": true, "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false])
            object["added_tokens"] = added
        }
        // tokenizer.model would be preferred by nothing here; drop it so tokenizer.json is read.
        try? FileManager.default.removeItem(at: directory.appendingPathComponent("tokenizer.model"))
        let message = try #require(Self.loadError(directory))
        #expect(message.contains("<|beyond|>") && message.contains("4096"), "\(message)")
    }

    @Test func generationConfigEosBeyondTheVocabularyIsALoadError() throws {
        let directory = try Self.alteredCheckpoint("generation_config.json") { $0["eos_token_id"] = [2, 9999] }
        let message = try #require(Self.loadError(directory))
        #expect(message.contains("eos_token_id") && message.contains("9999"), "\(message)")
    }

    @Test func theUnalteredCheckpointLoads() throws {
        let directory = try Self.alteredCheckpoint("config.json") { _ in }
        #expect(Self.loadError(directory) == nil)
    }
}
