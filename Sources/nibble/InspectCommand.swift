import ArgumentParser
import Foundation
import NibbleModels

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
        let loaded = try modelOptions.load()
        let after = ProcessMemory.current()
        let c = loaded.config
        if json {
            let object: [String: Any] = [
                "model": loaded.directory.path,
                "architecture": c.architectures.first ?? c.modelType,
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
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("model        \(loaded.directory.path)")
        print("architecture \(c.architectures.first ?? c.modelType): hidden \(c.hiddenSize), \(c.numHiddenLayers) layers, "
            + "\(c.numAttentionHeads) heads / \(c.numKeyValueHeads) KV heads, ffn \(c.intermediateSize), vocab \(c.vocabSize)")
        print("parameters   \(loaded.memory.parameters)")
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
