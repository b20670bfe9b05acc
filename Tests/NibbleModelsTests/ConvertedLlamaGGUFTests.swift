import Foundation
import NibbleFormats
import NibbleModels
import NibbleTestSupport
import Testing

/// llama-tiny written as a llama.cpp-style GGUF (`scripts/hf-llama-to-gguf.py`, with gguf-py: q/k rows permuted
/// into llama.cpp's rotary order, f16 tensors, a SentencePiece `llama` tokenizer in the metadata) must load as
/// the checkpoint itself: same input ids, logits and greedy ids as transformers' reference for llama-tiny.
@Suite(.enabled(if: ConvertedLlamaGGUF.file != nil,
                "python3 with the gguf package is needed to write the GGUF (scripts/test installs it)"))
struct ConvertedLlamaGGUFTests {
    @Test func matchesTheLlamaTinyReference() throws {
        try LlamaReferenceTests().check(reference: "llama-tiny-fp32", model: ConvertedLlamaGGUF.file!, tolerance: 1e-3)
    }

    @Test func sentencePieceTokenizerFromMetadataEncodesAsTheCheckpoint() throws {
        let fromGGUF = try ModelLoader.load(directory: ConvertedLlamaGGUF.file!)
        let fromDirectory = try ModelLoader.load(directory: SharedFixtures.model("llama-tiny"))
        #expect(fromGGUF.tokenizer.addsBosToken)
        #expect(fromGGUF.tokenizer.bosTokenId == fromDirectory.tokenizer.bosTokenId)
        #expect(fromGGUF.tokenizer.eosTokenId == fromDirectory.tokenizer.eosTokenId)
        #expect(fromGGUF.chatTemplate == nil, "the file carries no tokenizer.chat_template")
        for text in ["Hello world", "  leading spaces and\ttabs\n", "naïve café — ½ 🚀"] {
            #expect(fromGGUF.tokenizer.encode(text) == fromDirectory.tokenizer.encode(text), "\(text)")
        }
        // Stored as f16, so the weights are kept as f16, not widened.
        #expect(fromGGUF.memory.bytesByFormat == fromDirectory.memory.bytesByFormat)
    }
}

/// llama-tiny converted to GGUF in a temporary directory.
enum ConvertedLlamaGGUF {
    /// The converted file, written once per run; nil when gguf-py is not installed.
    static let file: URL? = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-gguf-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let out = directory.appendingPathComponent("llama-tiny.gguf")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", SharedFixtures.repositoryRoot.appendingPathComponent("scripts/hf-llama-to-gguf.py").path,
                             SharedFixtures.model("llama-tiny").path, out.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? out : nil
    }()
}
