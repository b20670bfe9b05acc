import Foundation
import NibbleFormats
import NibbleQuant
import NibbleTemplates
import NibbleTokenizer

/// Loads a llama-architecture GGUF file: config and tokenizer from its metadata, weights dequantized to
/// float32 (F32/F16/BF16 tensors keep their type), a PEFT LoRA merged in when given, then the bitsandbytes
/// config applies as for any checkpoint.
enum GGUFModelLoader {
    /// Whether `url` names a GGUF file (a regular file starting with the `GGUF` magic).
    static func isGGUF(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let handle = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    static func load(file url: URL, options: LoadOptions, tokenizer location: ModelLoader.TokenizerLocation) throws -> LoadedModel {
        guard let adapter = ModelAdapters.named(options.adapterName) else {
            throw ModelError.invalidOptions("unknown adapter '\(options.adapterName)' (known: \(ModelAdapters.names.joined(separator: ", ")))")
        }
        let gguf = try GGUFFile(path: url.path)
        let architecture = try gguf.string("general.architecture")
        guard let architecture, LlamaGGUFMapping.architectures.contains(architecture) else {
            throw GGUFError.unsupported(path: gguf.path, reason: "general.architecture '\(architecture ?? "(missing)")' is not supported "
                                        + "(known: \(LlamaGGUFMapping.architectures.joined(separator: ", ")))")
        }
        let configObject = try LlamaGGUFMapping.configJSON(gguf)
        let config = try ModelConfig(json: JSONSerialization.data(withJSONObject: configObject), path: gguf.path + " (metadata)")
        let family = try ModelFamilies.resolve(config)
        var decoder = family.architecture
        if let factors = gguf.tensor(named: LlamaGGUFMapping.ropeFrequencyFactors) {
            guard case .none = decoder.rope.scaling else {
                throw GGUFError.unsupported(path: gguf.path, reason: "\(LlamaGGUFMapping.ropeFrequencyFactors) together with llama.rope.scaling.type is not supported")
            }
            decoder.rope = try RopeParameters.frequencyFactors(gguf.floats(of: factors), theta: decoder.rope.theta,
                                                                    headDim: decoder.headDim,
                                                                    path: "\(gguf.path): \(LlamaGGUFMapping.ropeFrequencyFactors)")
        }
        options.progress?(0, "reading tokenizer")
        let tokenizer: any Tokenizer
        var specials = GGUFTokenizer.SpecialTokens()
        switch location {
        case .checkpoint:
            let carried = try GGUFTokenizer.load(gguf)
            tokenizer = carried.0
            specials = carried.1
        case .checkpointIfPresent:
            if gguf["tokenizer.ggml.model"] != nil {
                let carried = try GGUFTokenizer.load(gguf)
                tokenizer = carried.0
                specials = carried.1
            } else {
                tokenizer = AbsentTokenizer(vocabularySize: config.vocabSize, bosTokenId: config.bosTokenId,
                                            eosTokenId: config.eosTokenIds.first)
            }
        case .directory(let other):
            tokenizer = try Tokenizers.load(directory: other)
        }
        if tokenizer.vocabularySize > config.vocabSize {
            throw GGUFError.invalidMetadata(path: gguf.path, key: "llama.vocab_size",
                                            reason: "\(config.vocabSize) is smaller than the tokenizer's \(tokenizer.vocabularySize) tokens")
        }
        var specialTokens: [String: Value] = [:]
        if let bos = specials.bos { specialTokens["bos_token"] = .string(bos) }
        if let eos = specials.eos { specialTokens["eos_token"] = .string(eos) }
        let chatTemplate = try ModelChatTemplate.load(
            sources: ChatTemplateSource.standard(directory: url.deletingLastPathComponent(), configured: options.chatTemplate,
                                                 embedded: try gguf.string("tokenizer.chat_template")).filter {
                // The file's directory is not a checkpoint: only the operator's and the file's own template count.
                if case .configured = $0 { return true }
                if case .embedded = $0 { return true }
                return false
            },
            specialTokens: specialTokens)
        let source = try GGUFTensorSource(gguf, config: config, offloadFolder: options.offloadFolder)
        try DecoderTensorCheck.run(decoder, layout: family.layout, source: source)
        // The source names tensors as transformers does, so a PEFT adapter finds its modules as in a checkpoint;
        // it is merged into the weights as they are loaded (dequantized ones included).
        let lora = try options.loraDirectory.map { directory in
            options.progress?(0.02, "reading LoRA adapter")
            return try LoRAAdapter.forBase(directory: directory, basePath: gguf.path, hasTensor: source.contains)
        }
        var builder = WeightBuilder(archive: source, layout: family.layout, layerCount: decoder.layerCount,
                                    dropsTensor: family.dropsTensor, lora: lora)
        if let json = options.quantizationConfigJSON {
            let settings: BitsAndBytesConfig
            do { settings = try BitsAndBytesConfig.decodeStrict(from: json) } catch { throw ModelError.invalidOptions("\(error)") }
            let plan = try settings.validated()
            if plan.mode != .none { builder.quantization = plan }
        }
        let deviceMap = options.deviceMap ?? (options.maxMemory[.cpu] != nil ? .auto : .all(.cpu))
        builder.plan = try PlacementPlanner.plan(modules: try builder.footprints(), deviceMap: deviceMap,
                                                 maxMemory: options.maxMemory, quantized: builder.quantization != nil)
        var memory = WeightMemoryReport()
        let model = try DecoderBuilder(architecture: decoder, layout: family.layout, weights: builder)
            .build(memory: &memory) { fraction in options.progress?(0.05 + 0.95 * fraction, "loading weights") }
        var eos: [Int] = []
        for id in config.eosTokenIds + (tokenizer.eosTokenId.map { [$0] } ?? []) where !eos.contains(id) { eos.append(id) }
        options.progress?(1, "ready")
        return LoadedModel(directory: url, model: model, tokenizer: tokenizer, adapter: adapter, config: config,
                           generationConfig: GenerationConfig(), eosTokenIds: eos, memory: memory, placement: builder.plan,
                           chatTemplate: chatTemplate)
    }
}
