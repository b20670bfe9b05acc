import ArgumentParser
import Foundation
import NibbleKernels
import NibbleModels

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model directory (Hugging Face layout: config.json, *.safetensors, tokenizer).")
    var model: String = "models/kjv-llama-4m"

    @Option(name: .long, help: "Prompt/adapter format: llama or guanaco.")
    var adapter: String = "llama"

    @Option(name: .long, help: "PEFT LoRA adapter directory to merge into the base weights at load.")
    var lora: String?

    @Option(name: .long, help: "Kernel threads (default: all cores; NIBBLE_THREADS also works).")
    var threads: Int?

    /// The validated load options.
    func loadOptions() throws -> (URL, LoadOptions) {
        let directory = URL(fileURLWithPath: model, isDirectory: true)
        var options = LoadOptions(adapterName: adapter)
        options.loraDirectory = lora.map { URL(fileURLWithPath: $0, isDirectory: true) }
        return (directory, options)
    }

    /// Loads the model, reporting errors in one line.
    func load() throws -> LoadedModel {
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Parallel.threadCount = threads
        }
        let (directory, options) = try loadOptions()
        do {
            return try ModelLoader.load(directory: directory, options: options)
        } catch {
            throw CLIError("cannot load \(directory.path): \(error)")
        }
    }
}

/// An error printed as-is, without a usage dump.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
