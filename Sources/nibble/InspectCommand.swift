import ArgumentParser
import Foundation
import NibbleFormats
import NibbleKernels
import NibbleModels
import NibbleQuant

/// `nibble inspect`: what a model is and what its weights really occupy once loaded.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a model and print its architecture, weight formats and measured memory."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let before = ProcessMemory.current()
        // Checkpoints saved by transformers without tokenizer files still load for inspection.
        let loaded = try modelOptions.load(tokenizer: .checkpointIfPresent)
        let (_, options) = try modelOptions.loadOptions()
        let after = ProcessMemory.current()
        let c = loaded.config
        let quantization = try quantizationSummary(loaded: loaded, userJSON: options.quantizationConfigJSON)
        // A GGUF file describes itself; its header is re-read (mapped, no tensor data touched) for the report.
        let gguf = loaded.directory.pathExtension.lowercased() == "gguf"
            ? GGUFSummary(try GGUFFile(path: loaded.directory.path)) : nil
        if json {
            var object: [String: Any] = [
                "model": loaded.directory.path,
                "architecture": c.architectures.first ?? c.modelType ?? "",
                "hidden_size": c.hiddenSize, "num_hidden_layers": c.numHiddenLayers,
                "num_attention_heads": c.numAttentionHeads, "num_key_value_heads": c.numKeyValueHeads,
                "vocab_size": c.vocabSize, "max_position_embeddings": c.maxPositionEmbeddings,
                "parameters": loaded.memory.parameters,
                "weight_bytes": loaded.memory.totalBytes,
                "bytes_by_tier": loaded.memory.bytesByTier,
                "bytes_by_format": loaded.memory.bytesByFormat,
                "bytes_by_module_kind": loaded.memory.bytesByModuleKind,
                "rss_bytes": after.residentBytes, "peak_rss_bytes": after.peakResidentBytes,
                "rss_before_load_bytes": before.residentBytes,
                "quantization": quantization,
                "placement": loaded.placement.assignments.map {
                    ["module": $0.module, "tier": $0.tier.rawValue, "bytes": $0.bytes] as [String: Any]
                },
            ]
            if let gguf {
                var summary: [String: Any] = ["version": gguf.version, "tensor_types": gguf.tensorTypeCounts,
                                              "metadata_entries": gguf.metadataCount, "chat_template": gguf.hasChatTemplate]
                summary["architecture"] = gguf.architecture
                summary["name"] = gguf.name
                summary["tokenizer_model"] = gguf.tokenizerModel
                summary["tokenizer_pre"] = gguf.tokenizerPre
                summary["context_length"] = gguf.contextLength
                object["gguf"] = summary
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("model        \(loaded.directory.path)")
        print("architecture \(c.architectures.first ?? c.modelType ?? ""): hidden \(c.hiddenSize), \(c.numHiddenLayers) layers, "
            + "\(c.numAttentionHeads) heads / \(c.numKeyValueHeads) KV heads, ffn \(c.intermediateSize), vocab \(c.vocabSize)")
        if let gguf {
            print("gguf         v\(gguf.version), architecture \(gguf.architecture ?? "?"), name \(gguf.name.map { "\"\($0)\"" } ?? "-"), "
                + "context \(gguf.contextLength.map(String.init) ?? "?")")
            print("  tensors    \(gguf.tensorTypesDescription)")
            print("  tokenizer  \(gguf.tokenizerModel ?? "none")\(gguf.tokenizerPre.map { " (pre \($0))" } ?? "")"
                + "\(gguf.hasChatTemplate ? ", chat template" : ""); \(gguf.metadataCount) metadata entries")
        }
        print("parameters   \(loaded.memory.parameters)")
        print("quantization \(quantization)")
        if loaded.placement.hasOffload { print("placement\n\(loaded.placement)") }
        print("weights      \(formatBytes(loaded.memory.totalBytes))")
        for (title, table) in [("by tier", loaded.memory.bytesByTier), ("by format", loaded.memory.bytesByFormat),
                               ("by module", loaded.memory.bytesByModuleKind)] {
            print("  \(title):")
            for (key, bytes) in table.sorted(by: { $0.value > $1.value }) {
                print("    \(key.padding(toLength: 14, withPad: " ", startingAt: 0)) \(formatBytes(bytes))")
            }
        }
        print("process RSS  \(formatBytes(after.residentBytes)) (peak \(formatBytes(after.peakResidentBytes)); "
            + "before load \(formatBytes(before.residentBytes)))")
    }
}

/// One line on how the weights were quantized: saved that way (config.json), at load (flags), or not at all.
func quantizationSummary(loaded: LoadedModel, userJSON: Data?) throws -> String {
    let formats = loaded.memory.bytesByFormat.keys.sorted().joined(separator: ", ")
    if let saved = loaded.config.quantizationConfigJSON {
        let settings = try JSONDecoder().decode(BitsAndBytesConfig.self, from: saved)
        return "pre-quantized by bitsandbytes (config.json): \(quantizationDescription(settings)); formats \(formats)"
    }
    if let userJSON {
        let settings = try BitsAndBytesConfig.decodeStrict(from: userJSON)
        return "at load: \(quantizationDescription(settings)); formats \(formats)"
    }
    return "none; formats \(formats)"
}

/// "4-bit nf4 + double quant, compute float32" / "LLM.int8(), threshold 6.0", and the skipped modules.
func quantizationDescription(_ settings: BitsAndBytesConfig) -> String {
    let skip = "skip \((settings.llmInt8SkipModules ?? QuantizationPlan.defaultSkipModules).joined(separator: ","))"
    if settings.loadIn4bit {
        return "4-bit \(settings.bnb4bitQuantType)\(settings.bnb4bitUseDoubleQuant ? " + double quant" : ""), "
            + "compute \(settings.bnb4bitComputeDtype), \(skip)"
    }
    if settings.loadIn8bit { return "LLM.int8(), threshold \(settings.llmInt8Threshold), \(skip)" }
    return "none"
}

/// Bytes in binary units, e.g. "1.50 MiB".
func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.2f %@", value, units[unit])
}
