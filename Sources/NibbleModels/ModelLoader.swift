import Foundation
import NibbleFormats
import NibbleKernels
import NibbleTokenizer

/// Loads a Hugging Face checkpoint directory into a ready-to-run model.
public enum ModelLoader {
    /// Reads config, tokenizer and weights from `directory` and builds the model described by `options`.
    public static func load(directory: URL, options: LoadOptions = LoadOptions()) throws -> LoadedModel {
        guard let adapter = ModelAdapters.named(options.adapterName) else {
            throw ModelError.invalidOptions("unknown adapter '\(options.adapterName)' (known: \(ModelAdapters.names.joined(separator: ", ")))")
        }
        let config = try ModelConfig(directory: directory)
        if !config.architectures.isEmpty && !config.architectures.contains("LlamaForCausalLM") || config.modelType != "llama" {
            throw ModelError.unsupportedArchitecture(config.architectures.first ?? config.modelType)
        }
        let generationConfig = try GenerationConfig(directory: directory)
        options.progress?(0, "reading tokenizer")
        let tokenizer = try Tokenizers.load(directory: directory)
        let archive = try SafetensorsArchive(directory: directory)
        var memory = WeightMemoryReport()
        var lora: LoRAAdapter?
        if let loraDirectory = options.loraDirectory {
            options.progress?(0.02, "reading LoRA adapter")
            let adapter = try LoRAAdapter(directory: loraDirectory)
            // Every adapted module must exist in the base model, or the adapter belongs to another model.
            for module in adapter.modules.keys.sorted() where !archive.contains(module + ".weight") {
                throw ModelError.invalidAdapter(path: loraDirectory.path,
                                                reason: "adapts '\(module)', which the base model at \(directory.path) does not have")
            }
            lora = adapter
        } else if adapter.requiresLoRA {
            throw ModelError.invalidOptions("adapter '\(adapter.name)' needs a LoRA adapter directory (--lora / lora:)")
        }
        var builder = WeightBuilder(archive: archive, config: config, lora: lora)
        let deviceMap = options.deviceMap ?? (options.maxMemory[.cpu] != nil ? .auto : .all(.cpu))
        builder.plan = try PlacementPlanner.plan(modules: try builder.footprints(), deviceMap: deviceMap,
                                                 maxMemory: options.maxMemory, quantized: false)
        let model = try LlamaBuilder(config: config, weights: builder).build(memory: &memory) { fraction in
            options.progress?(0.05 + 0.95 * fraction, "loading weights")
        }
        var eos: [Int] = []
        for id in config.eosTokenIds + generationConfig.eosTokenIds + (tokenizer.eosTokenId.map { [$0] } ?? []) where !eos.contains(id) {
            eos.append(id)
        }
        options.progress?(1, "ready")
        return LoadedModel(directory: directory, model: model, tokenizer: tokenizer, adapter: adapter, config: config,
                           generationConfig: generationConfig, eosTokenIds: eos, memory: memory, placement: builder.plan)
    }
}
