import ArgumentParser
import Foundation
import NibbleFormats
import NibbleKernels
import NibbleModels

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model directory (Hugging Face layout), or ORG/NAME of a model pulled into the hub cache.")
    var model: String = "models/kjv-llama-4m"

    @Option(name: .long, help: "Prompt/adapter format: llama or guanaco.")
    var adapter: String = "llama"

    @Option(name: .long, help: "PEFT LoRA adapter directory to merge into the base weights at load.")
    var lora: String?

    @Option(name: .long, help: "Kernel threads (default: all cores; NIBBLE_THREADS also works).")
    var threads: Int?

    // MARK: Quantization (transformers' BitsAndBytesConfig field names)

    @Flag(name: .customLong("load-in-8bit"), help: "LLM.int8(): int8 weights with outlier decomposition.")
    var loadIn8bit = false

    @Option(name: .customLong("llm-int8-threshold"), help: "Outlier threshold for LLM.int8() (default 6.0; 0 = none).")
    var llmInt8Threshold: Float?

    @Option(name: .customLong("llm-int8-skip-modules"), help: "Comma-separated modules kept unquantized (default: lm_head).")
    var llmInt8SkipModules: String?

    @Flag(name: .customLong("llm-int8-enable-fp32-cpu-offload"), help: "Keep offloaded modules in fp32.")
    var llmInt8EnableFP32CPUOffload = false

    @Flag(name: .customLong("load-in-4bit"), help: "4-bit blockwise quantization (fp4 unless --bnb-4bit-quant-type nf4).")
    var loadIn4bit = false

    @Option(name: .customLong("bnb-4bit-quant-type"), help: "fp4 (default) or nf4.")
    var bnb4bitQuantType: String?

    @Flag(name: .customLong("bnb-4bit-use-double-quant"), help: "Quantize the 4-bit block scales again.")
    var bnb4bitUseDoubleQuant = false

    @Option(name: .customLong("bnb-4bit-compute-dtype"), help: "float32 (default), float16 or bfloat16.")
    var bnb4bitComputeDtype: String?

    @Option(name: .customLong("quantization-config"), help: "A JSON file holding a BitsAndBytesConfig.")
    var quantizationConfig: String?

    // MARK: Placement

    @Option(name: .customLong("max-memory"), help: "Per-tier budget, e.g. cpu=2GiB (repeatable or comma-separated).")
    var maxMemory: [String] = []

    @Option(name: .customLong("device-map"), help: "auto, cpu, disk, or a JSON file mapping modules to tiers.")
    var deviceMap: String?

    /// The quantization settings given on the command line, as a `BitsAndBytesConfig` JSON object (nil: none).
    func quantizationJSON() throws -> Data? {
        var object: [String: Any] = [:]
        if let quantizationConfig {
            guard let data = FileManager.default.contents(atPath: quantizationConfig),
                  let file = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw ValidationError("--quantization-config \(quantizationConfig) is not a readable JSON object")
            }
            object = file
        }
        if loadIn8bit { object["load_in_8bit"] = true }
        if loadIn4bit { object["load_in_4bit"] = true }
        if let llmInt8Threshold { object["llm_int8_threshold"] = Double(llmInt8Threshold) }
        if let llmInt8SkipModules {
            object["llm_int8_skip_modules"] = llmInt8SkipModules.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if llmInt8EnableFP32CPUOffload { object["llm_int8_enable_fp32_cpu_offload"] = true }
        if let bnb4bitQuantType { object["bnb_4bit_quant_type"] = bnb4bitQuantType }
        if bnb4bitUseDoubleQuant { object["bnb_4bit_use_double_quant"] = true }
        if let bnb4bitComputeDtype { object["bnb_4bit_compute_dtype"] = bnb4bitComputeDtype }
        guard !object.isEmpty else { return nil }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
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
        options.quantizationConfigJSON = try quantizationJSON()
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

/// A model argument as a directory: an existing path, else `ORG/NAME[@REVISION]` found in the hub cache (offline).
func resolveModelDirectory(_ model: String) throws -> URL {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue {
        return URL(fileURLWithPath: model, isDirectory: true)
    }
    let parts = model.split(separator: "@", maxSplits: 1).map(String.init)
    if let repo = try? HubRepoId(parsing: parts[0]), !model.hasPrefix("."), !model.hasPrefix("/") {
        let cache = HubCache.fromEnvironment()
        let revision = parts.count > 1 ? parts[1] : "main"
        if let snapshot = cache.snapshot(repo, revision: revision) { return snapshot }
        throw CLIError("\(HubError.notCached(repo: repo.description, revision: revision, cache: cache.root.path))")
    }
    throw CLIError("model directory \(model) not found")
}
