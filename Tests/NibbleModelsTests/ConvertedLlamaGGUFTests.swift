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

    /// A PEFT LoRA over llama-tiny merges into the GGUF's weights at load as into the checkpoint's: the file's
    /// tensors carry transformers' module names, which the adapter uses.
    @Test(arguments: ["guanaco-tiny-merged-fp32", "guanaco-tiny-lora-fp32"])
    func loraMergesIntoTheGGUFModel(reference name: String) throws {
        var options = LoadOptions(adapterName: "guanaco")
        options.loraDirectory = SharedFixtures.model("guanaco-tiny-lora")
        try GuanacoTests.check(try ModelLoader.load(directory: ConvertedLlamaGGUF.file!, options: options), reference: name)
    }

    /// Layers of a GGUF placed on disk (its q/k rows are reordered and so converted at load) live in unnamed files
    /// in the offload folder, and the model still gives the reference logits; without a folder it is a clear error.
    @Test func offloadedLayersGoToTheOffloadFolder() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-offload-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var options = LoadOptions()
        options.maxMemory = [.cpu: 9_000_000]  // as for the checkpoint: layer 1, the norm and lm_head go to disk
        #expect {
            try ModelLoader.load(directory: ConvertedLlamaGGUF.file!, options: options)
        } throws: { "\($0)".contains("offload folder") }
        options.offloadFolder = folder
        let loaded = try ModelLoader.load(directory: ConvertedLlamaGGUF.file!, options: options)
        #expect(loaded.placement.tier(of: "model.layers.1") == .disk)
        #expect((loaded.memory.bytesByTier["disk"] ?? 0) >= 32000 * 128 * 2 + 393_216)
        // The files are unlinked as soon as they are created: nothing is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        try GuanacoTests.check(loaded, reference: "llama-tiny-fp32")
    }

    /// An adapter for another model is refused by name, as for a checkpoint.
    @Test func loraForAnotherModelIsRefused() throws {
        let kjv = try #require(ConvertedLlamaGGUF.convert("kjv-llama-4m"))
        var options = LoadOptions(adapterName: "guanaco")
        options.loraDirectory = SharedFixtures.model("guanaco-tiny-lora")
        #expect(throws: ModelError.self) { try ModelLoader.load(directory: kjv, options: options) }
    }

    /// llama3-rope-tiny (Llama 3 rope scaling with an original context of 64, a byte-level BPE tokenizer) carries
    /// its scaling as llama.cpp's converter writes it: a `rope_freqs` tensor of per-frequency divisors, no scaling
    /// metadata. Loaded with plain RoPE instead, its logits are off by far more than the bound.
    @Test func llama3RopeFrequencyFactorsMatchTheReference() throws {
        let file = try #require(ConvertedLlamaGGUF.convert("llama3-rope-tiny"))
        try LlamaReferenceTests().check(reference: "llama3-rope-tiny-fp32", model: file, tolerance: 1e-3)
        let loaded = try ModelLoader.load(directory: file)
        let gguf = try GGUFFile(path: file.path)
        #expect(gguf.tensor(named: "rope_freqs.weight") != nil)
        #expect(try gguf.string("llama.rope.scaling.type") == nil)
        #expect(loaded.tokenizer.encode("Hello world", addSpecialTokens: true)
                == (try ModelLoader.load(directory: SharedFixtures.model("llama3-rope-tiny"))).tokenizer.encode("Hello world", addSpecialTokens: true))
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

/// Shared checkpoints converted to GGUF in a temporary directory.
enum ConvertedLlamaGGUF {
    /// llama-tiny converted, written once per run; nil when gguf-py is not installed.
    static let file: URL? = convert("llama-tiny")

    /// `model` (a directory of the shared fixtures) converted with `scripts/hf-llama-to-gguf.py`; nil when the
    /// converter cannot run (gguf-py missing).
    static func convert(_ model: String) -> URL? {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-gguf-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let out = directory.appendingPathComponent("\(model).gguf")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", SharedFixtures.repositoryRoot.appendingPathComponent("scripts/hf-llama-to-gguf.py").path,
                             SharedFixtures.model(model).path, out.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? out : nil
    }
}
