import Foundation
import NibbleFormats
import NibbleKernels
import NibbleQuant
import NibbleTokenizer

/// Loads a Hugging Face checkpoint directory into a ready-to-run model.
public enum ModelLoader {
    /// Where the tokenizer comes from.
    public enum TokenizerLocation: Sendable {
        /// The checkpoint directory (an error when it has no tokenizer files).
        case checkpoint
        /// Another directory, e.g. the base model of a quantized checkpoint saved without tokenizer files.
        case directory(URL)
        /// The checkpoint directory when it has tokenizer files, else none: the model loads for inspection,
        /// and its tokenizer encodes nothing.
        case checkpointIfPresent
    }

    /// Reads config, tokenizer and weights from `directory` (or a `.gguf` file) and builds the model described by
    /// `options`.
    public static func load(directory: URL, options: LoadOptions = LoadOptions()) throws -> LoadedModel {
        try load(directory: directory, options: options, tokenizer: .checkpoint)
    }

    /// `load(directory:options:)` with the tokenizer taken from `tokenizer`.
    public static func load(directory: URL, options: LoadOptions, tokenizer location: TokenizerLocation) throws -> LoadedModel {
        if GGUFModelLoader.isGGUF(directory) {
            return try GGUFModelLoader.load(file: directory, options: options, tokenizer: location)
        }
        guard let adapter = ModelAdapters.named(options.adapterName) else {
            throw ModelError.invalidOptions("unknown adapter '\(options.adapterName)' (known: \(ModelAdapters.names.joined(separator: ", ")))")
        }
        let config = try ModelConfig(directory: directory)
        let family = try ModelFamilies.resolve(config)
        let generationConfig = try GenerationConfig(directory: directory)
        // Read before the weights, so a broken template fails the load at once.
        let chatTemplate = try ModelChatTemplate.load(directory: directory, configured: options.chatTemplate)
        options.progress?(0, "reading tokenizer")
        let tokenizer: any Tokenizer
        switch location {
        case .checkpoint: tokenizer = try Tokenizers.load(directory: directory)
        case .directory(let other): tokenizer = try Tokenizers.load(directory: other)
        case .checkpointIfPresent:
            let fm = FileManager.default
            if ["tokenizer.json", "tokenizer.model"].contains(where: { fm.fileExists(atPath: directory.appendingPathComponent($0).path) }) {
                tokenizer = try Tokenizers.load(directory: directory)
            } else {
                tokenizer = AbsentTokenizer(vocabularySize: config.vocabSize, bosTokenId: config.bosTokenId,
                                            eosTokenId: config.eosTokenIds.first)
            }
        }
        try tokenizer.checkFits(modelVocabularySize: config.vocabSize, source: tokenizerSource(location, directory))
        try generationConfig.validateTokenIds(
            vocabularySize: config.vocabSize, path: directory.appendingPathComponent("generation_config.json").path)
        let archive = try SafetensorsArchive(directory: directory)
        try DecoderTensorCheck.run(family.architecture, layout: family.layout, source: archive)
        var memory = WeightMemoryReport()
        var lora: LoRAAdapter?
        if let loraDirectory = options.loraDirectory {
            options.progress?(0.02, "reading LoRA adapter")
            lora = try LoRAAdapter.forBase(directory: loraDirectory, basePath: directory.path, hasTensor: archive.contains)
        }
        var builder = WeightBuilder(archive: archive, layout: family.layout, layerCount: family.architecture.layerCount,
                                    dropsTensor: family.dropsTensor, lora: lora)
        var bnb: BitsAndBytesConfig?
        switch try quantizationSource(options: options, config: config, archive: archive, directory: directory) {
        case .none:
            break
        case .atLoad(let settings):
            bnb = settings
            let plan = try settings.validated()
            if plan.mode != .none { builder.quantization = plan }
        case .prequantized(let checkpoint):
            builder.prequantized = checkpoint
        }
        let deviceMap = options.deviceMap ?? (options.maxMemory[.cpu] != nil ? .auto : .all(.cpu))
        // Footprints of a pre-quantized checkpoint are its stored tensor sizes; budgets get bitsandbytes' headroom.
        builder.plan = try PlacementPlanner.plan(modules: try builder.footprints(), deviceMap: deviceMap,
                                                 maxMemory: options.maxMemory,
                                                 quantized: builder.quantization != nil || builder.prequantized != nil)
        // Offloaded pre-quantized modules stay quantized (paged in from the checkpoint), so only quantize-at-load
        // needs the fp32 consent.
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
        let model = try DecoderBuilder(architecture: family.architecture, layout: family.layout, weights: builder)
            .build(memory: &memory) { fraction in options.progress?(0.05 + 0.95 * fraction, "loading weights") }
        var eos: [Int] = []
        for id in config.eosTokenIds + generationConfig.eosTokenIds + (tokenizer.eosTokenId.map { [$0] } ?? []) where !eos.contains(id) {
            eos.append(id)
        }
        options.progress?(1, "ready")
        return LoadedModel(directory: directory, model: model, tokenizer: tokenizer, adapter: adapter, config: config,
                           generationConfig: generationConfig, eosTokenIds: eos, memory: memory, placement: builder.plan,
                           chatTemplate: chatTemplate)
    }
}

extension ModelLoader {
    /// The tokenizer's directory, for messages.
    static func tokenizerSource(_ location: TokenizerLocation, _ directory: URL) -> String {
        if case .directory(let other) = location { return other.path }
        return directory.path
    }

    /// Where quantized weights come from.
    enum QuantizationSource {
        /// Weights load in their stored float formats.
        case none
        /// The caller's bitsandbytes config, applied while loading float weights.
        case atLoad(BitsAndBytesConfig)
        /// The checkpoint was saved quantized; its own `quantization_config` describes the stored tensors.
        case prequantized(PrequantizedCheckpoint)
    }

    /// Decides between quantize-at-load and a pre-quantized checkpoint.
    ///
    /// With a pre-quantized checkpoint, transformers ignores a `quantization_config` passed to `from_pretrained`
    /// (with a warning) and uses the checkpoint's. Here settings the caller gave explicitly must agree with the
    /// checkpoint's, and a disagreement is an error naming each field, so a requested compute dtype or
    /// threshold is never silently replaced.
    static func quantizationSource(options: LoadOptions, config: ModelConfig, archive: SafetensorsArchive,
                                   directory: URL) throws -> QuantizationSource {
        let configPath = directory.appendingPathComponent("config.json").path
        if let saved = config.quantizationConfigJSON {
            let checkpoint = try PrequantizedCheckpoint(quantizationConfigJSON: saved, archive: archive, configPath: configPath)
            if let user = options.quantizationConfigJSON {
                let conflicts: [String]
                do { conflicts = try checkpoint.config.conflicts(withUserJSON: user) } catch {
                    throw ModelError.invalidOptions("\(error)")
                }
                if !conflicts.isEmpty {
                    throw ModelError.invalidOptions(
                        "\(directory.path) is already quantized by bitsandbytes and its config.json fixes the quantization "
                        + "settings; the given ones disagree:\n  " + conflicts.joined(separator: "\n  ")
                        + "\nDrop these flags (or make them match) to load the checkpoint as saved.")
                }
            }
            return .prequantized(checkpoint)
        }
        if PrequantizedCheckpoint.holdsQuantizedTensors(archive) {
            throw ModelError.invalidOptions(
                "\(archive.location) holds bitsandbytes-quantized tensors, but \(configPath) has no quantization_config "
                + "describing them")
        }
        guard let json = options.quantizationConfigJSON else { return .none }
        do {
            return .atLoad(try BitsAndBytesConfig.decodeStrict(from: json))
        } catch {
            throw ModelError.invalidOptions("\(error)")
        }
    }
}
