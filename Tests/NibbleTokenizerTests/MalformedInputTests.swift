import Foundation
import NibbleTestSupport
import Testing
@testable import NibbleTokenizer

/// Bad files must surface as `TokenizerError`, never as a crash.
@Suite struct MalformedInputTests {
    /// A fresh directory holding the given files.
    static func directory(_ files: [String: Data]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("nibble-tokenizer-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, data) in files { try data.write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    static func loadError(_ files: [String: Data], prefer: TokenizerSource = .automatic) throws -> TokenizerError? {
        let dir = try directory(files)
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            _ = try Tokenizers.load(directory: dir, prefer: prefer)
            return nil
        } catch let error as TokenizerError {
            return error
        }
    }

    @Test func truncatedSentencePieceModel() throws {
        let data = try Data(contentsOf: SharedFixtures.model("llama-tiny").appendingPathComponent("tokenizer.model"))
        for length in [0, 1, 2, 7, 100, 4097, data.count / 2, data.count - 40, data.count - 3, data.count - 1] {
            let error = try Self.loadError(["tokenizer.model": data.prefix(length)], prefer: .sentencepiece)
            #expect(error != nil, "length \(length)")
            #expect(error?.description.contains("tokenizer.model") == true)
        }
    }

    @Test func garbageSentencePieceModel() throws {
        var generator = SystemRandomNumberGenerator()
        for size in [3, 64, 1000] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(try Self.loadError(["tokenizer.model": Data(bytes)], prefer: .sentencepiece) != nil)
        }
        // Wire type 7 does not exist.
        let error = try Self.loadError(["tokenizer.model": Data([0x0F, 0x00])], prefer: .sentencepiece)
        guard case .malformedProtobuf = error else {
            Issue.record("expected malformedProtobuf, got \(String(describing: error))")
            return
        }
    }

    @Test func invalidJSON() throws {
        let error = try Self.loadError(["tokenizer.json": Data("{\"model\": {\"type\": \"BPE\", ".utf8)])
        guard case .invalidJSON(let file, _) = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
        #expect(file.hasSuffix("tokenizer.json"))
    }

    @Test func invalidTokenizerConfig() throws {
        let json = try Data(contentsOf: SharedFixtures.model("kjv-llama-4m").appendingPathComponent("tokenizer.json"))
        let error = try Self.loadError(["tokenizer.json": json, "tokenizer_config.json": Data("[1,".utf8)])
        guard case .invalidJSON(let file, _) = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
        #expect(file.hasSuffix("tokenizer_config.json"))
    }

    @Test func wrongShapeJSON() throws {
        let error = try Self.loadError(["tokenizer.json": Data("{\"model\": {\"type\": \"BPE\", \"vocab\": [1, 2]}}".utf8)])
        guard case .invalidJSON = error else {
            Issue.record("expected invalidJSON, got \(String(describing: error))")
            return
        }
    }

    @Test func unknownModelType() throws {
        let json = #"{"added_tokens": [], "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}}"#
        let error = try Self.loadError(["tokenizer.json": Data(json.utf8)])
        #expect(error == .unsupportedModel(error.map(fileOf) ?? "", type: "Unigram"))
        #expect(error?.description.contains("Unigram") == true)
    }

    @Test func unknownNormalizerType() throws {
        let json = #"{"normalizer": {"type": "Precompiled", "precompiled_charsmap": ""}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#
        let error = try Self.loadError(["tokenizer.json": Data(json.utf8)])
        guard case .unsupportedComponent(_, let component, let type) = error else {
            Issue.record("expected unsupportedComponent, got \(String(describing: error))")
            return
        }
        #expect(component == "normalizer" && type == "Precompiled")
    }

    @Test func unsupportedJSONFallsBackToSentencePiece() throws {
        let json = #"{"added_tokens": [], "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}}"#
        let model = try Data(contentsOf: SharedFixtures.model("kjv-llama-4m").appendingPathComponent("tokenizer.model"))
        let dir = try Self.directory(["tokenizer.json": Data(json.utf8), "tokenizer.model": model])
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try Tokenizers.load(directory: dir) is SentencePieceTokenizer)
        #expect(throws: TokenizerError.self) { try Tokenizers.load(directory: dir, prefer: .json) }
    }

    @Test func missingFiles() throws {
        #expect(try Self.loadError([:]).map { if case .missingFile = $0 { true } else { false } } == true)
        #expect(try Self.loadError(["tokenizer.model": Data()], prefer: .json).map {
            if case .missingFile = $0 { true } else { false }
        } == true)
    }

    private func fileOf(_ error: TokenizerError) -> String {
        if case .unsupportedModel(let file, _) = error { return file }
        return ""
    }
}
