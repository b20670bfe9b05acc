import Foundation
import NibbleFormats
import NibbleKernels
import NibbleQuant
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
        let bnb = try quantizationConfig(options: options, config: config, archive: archive)
        if let bnb {
            let plan = try bnb.validated()
            if plan.mode != .none { builder.quantization = plan }
        }
        let deviceMap = options.deviceMap ?? (options.maxMemory[.cpu] != nil ? .auto : .all(.cpu))
        builder.plan = try PlacementPlanner.plan(modules: try builder.footprints(), deviceMap: deviceMap,
                                                 maxMemory: options.maxMemory, quantized: builder.quantization != nil)
        if builder.quantization != nil, builder.plan.hasOffload, bnb?.llmInt8EnableFp32CpuOffload != true {
            // transformers refuses this too: offloaded modules cannot be quantized, so the user must agree to fp32.
            throw ModelError.invalidOptions(
                "some modules do not fit in max_memory and would be offloaded to disk; offloaded modules stay "
                + "unquantized, so set llm_int8_enable_fp32_cpu_offload (--llm-int8-enable-fp32-cpu-offload) "
                + "or raise the cpu budget")
        }
        if builder.plan.hasOffload {
            options.progress?(0.04, "placement:\n\(builder.plan)")
        }
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

extension ModelLoader {
    /// The bitsandbytes config to apply: the caller's (strict: unknown keys are errors), else none.
    /// A checkpoint that was saved quantized carries its own `quantization_config`; it must be loaded with
    /// the same settings, which `validatePrequantized` checks.
    static func quantizationConfig(options: LoadOptions, config: ModelConfig, archive: SafetensorsArchive) throws -> BitsAndBytesConfig? {
        let prequantized = archive.tensorNames.contains { $0.hasSuffix(".SCB") || $0.hasSuffix(".weight.absmax") }
        if prequantized {
            throw ModelError.invalidOptions(
                "\(archive.location) holds weights already quantized by bitsandbytes; loading pre-quantized checkpoints "
                + "is not supported yet — load the original float checkpoint with the same quantization settings instead")
        }
        guard let json = options.quantizationConfigJSON else { return nil }
        do {
            return try BitsAndBytesConfig.decodeStrict(from: json)
        } catch {
            throw ModelError.invalidOptions("\(error)")
        }
    }
}
