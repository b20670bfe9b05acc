import ArgumentParser
import Foundation
import NibbleFormats
import NibbleKernels
import NibbleModels

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model directory (Hugging Face layout), a .gguf file, or ORG/NAME of a model pulled into the hub cache.")
    var model: String = "models/kjv-llama-4m"

    @Option(name: .long, help: "Prompt/adapter format: llama or guanaco.")
    var adapter: String = "llama"

    @Option(name: .long, help: "PEFT LoRA adapter directory to merge into the base weights at load.")
    var lora: String?

    @Option(name: .long, help: "Kernel threads (default: all cores; NIBBLE_THREADS also works).")
    var threads: Int?

    @OptionGroup(title: "Quantization (transformers' BitsAndBytesConfig field names)")
    var quantization: QuantizationOptions

    // MARK: Placement

    @Option(name: .customLong("max-memory"), help: "Per-tier budget, e.g. cpu=2GiB (repeatable or comma-separated).")
    var maxMemory: [String] = []

    @Option(name: .customLong("device-map"), help: "auto, cpu, disk, or a JSON file mapping modules to tiers.")
    var deviceMap: String?

    @Option(name: .customLong("offload-folder"), help: "Directory for weights placed on disk that exist only after conversion (a GGUF file's).")
    var offloadFolder: String?

    func validate() throws {
        if let threads, !(1...4096).contains(threads) { throw ValidationError("--threads must be in 1...4096, got \(threads)") }
    }

    /// `--max-memory cpu=2GiB` as tier budgets.
    func memoryBudgets() throws -> [Tier: Int] {
        var budgets: [Tier: Int] = [:]
        for item in maxMemory.flatMap({ $0.split(separator: ",") }) {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let tier = Tier(rawValue: parts[0]) else {
                throw ValidationError("--max-memory takes TIER=SIZE with TIER cpu or disk, e.g. cpu=2GiB; got '\(item)'")
            }
            do { budgets[tier] = try MemorySize(parsing: parts[1]).bytes } catch { throw ValidationError("--max-memory: \(error)") }
        }
        return budgets
    }

    /// `--device-map` as a placement rule.
    func placementMap() throws -> DeviceMap? {
        guard let deviceMap else { return nil }
        if ["auto", "cpu", "disk", "balanced", "sequential"].contains(deviceMap) {
            return try DeviceMap(parsing: deviceMap)
        }
        guard let data = FileManager.default.contents(atPath: deviceMap),
              let object = try? JSONSerialization.jsonObject(with: data) else {
            throw ValidationError("--device-map must be auto, cpu, disk or a JSON file; cannot read '\(deviceMap)'")
        }
        do { return try DeviceMap(parsing: object) } catch { throw ValidationError("--device-map: \(error)") }
    }

    /// The validated load options.
    func loadOptions() throws -> (URL, LoadOptions) {
        let directory = try resolveModelDirectory(model)
        var options = LoadOptions(adapterName: adapter)
        options.loraDirectory = lora.map { URL(fileURLWithPath: $0, isDirectory: true) }
        options.maxMemory = try memoryBudgets()
        options.deviceMap = try placementMap()
        if let offloadFolder {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: offloadFolder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--offload-folder: \(offloadFolder) is not a directory")
            }
            options.offloadFolder = URL(fileURLWithPath: offloadFolder, isDirectory: true)
        }
        options.quantizationConfigJSON = try quantization.json()
        return (directory, options)
    }

    /// Loads the model, reporting errors in one line.
    func load(tokenizer: ModelLoader.TokenizerLocation = .checkpoint) throws -> LoadedModel {
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Parallel.threadCount = threads
        }
        var (directory, options) = try loadOptions()
        // On a terminal, reading shards and quantizing show a bar; pipes and CI logs stay clean.
        let bar = isatty(STDERR_FILENO) != 0 ? ProgressBar(label: "load") : nil
        if let bar { options.progress = { fraction, detail in bar.update(fraction: fraction, detail: detail) } }
        let loaded: LoadedModel
        do {
            loaded = try ModelLoader.load(directory: directory, options: options, tokenizer: tokenizer)
            bar?.finish()
        } catch {
            bar?.finish()
            throw CLIError("cannot load \(directory.path): \(error)")
        }
        if loaded.placement.hasOffload {
            FileHandle.standardError.write(Data("placement (max_memory / device_map):\n\(loaded.placement)\n".utf8))
        }
        return loaded
    }
}

/// An error printed as-is, without a usage dump.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A model argument as a directory: an existing path, else `ORG/NAME[@REVISION]` found in the hub cache (offline).
func resolveModelDirectory(_ model: String) throws -> URL {
    do {
        return try ModelLocation.resolve(model, currentDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    } catch HubError.invalidRepoId {
        throw CLIError("model directory or .gguf file \(model) not found")
    } catch {
        throw CLIError("\(error)")
    }
}
