import ArgumentParser
import Foundation
import NibbleModels

/// `nibble quantize`: quantize a float checkpoint once and save it the way transformers + bitsandbytes save one,
/// so later loads (here or in transformers) skip the quantization step.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a checkpoint (bitsandbytes int8 / nf4 / fp4) and save it in the layout transformers loads.",
        discussion: "Writes model.safetensors with bitsandbytes' tensors (weight, absmax, quant_map, nested_*, "
            + "quant_state blob; or int8 weight, SCB, weight_format), config.json with quantization_config, and copies "
            + "the tokenizer and generation_config.json. Load the result with `--model OUT` and no quantization flags."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Output directory (created; must not already hold a checkpoint).")
    var out: String

    @Option(name: .long, help: "Type of the tensors left unquantized and of the weights before quantization: auto (as stored), float32, float16 or bfloat16.")
    var dtype: String = "auto"

    func validate() throws {
        guard QuantizedCheckpointWriter.WeightDType(rawValue: dtype) != nil else {
            throw ValidationError("--dtype must be one of \(QuantizedCheckpointWriter.WeightDType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if !modelOptions.maxMemory.isEmpty || modelOptions.deviceMap != nil {
            throw ValidationError("quantize takes no --max-memory or --device-map (it writes every module)")
        }
    }

    func run() throws {
        guard var json = try modelOptions.quantization.json() else {
            throw ValidationError("nothing to quantize: give --load-in-4bit (with --bnb-4bit-quant-type etc.) or --load-in-8bit")
        }
        if let threshold = modelOptions.quantization.llmInt8Threshold,
           var object = try JSONSerialization.jsonObject(with: json) as? [String: Any] {
            // The flag parses as Float; write the number as typed (6.1, not 6.099999904632568) into config.json.
            object["llm_int8_threshold"] = Double("\(threshold)") ?? Double(threshold)
            json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        }
        let source = try resolveModelDirectory(modelOptions.model)
        if source.pathExtension.lowercased() == "gguf" {
            throw CLIError("nibble quantize writes bitsandbytes checkpoints from Hugging Face directories; quantize a GGUF "
                           + "file at load instead (generate/serve --model \(source.path) --load-in-4bit)")
        }
        let destination = URL(fileURLWithPath: out, isDirectory: true)
        let bar = isatty(STDERR_FILENO) != 0 ? ProgressBar(label: "quantize") : nil
        let summary: QuantizedCheckpointWriter.Summary
        do {
            summary = try QuantizedCheckpointWriter.write(
                from: source, to: destination, quantizationConfigJSON: json,
                dtype: QuantizedCheckpointWriter.WeightDType(rawValue: dtype)!,
                loraDirectory: modelOptions.lora.map { URL(fileURLWithPath: $0, isDirectory: true) }
            ) { fraction, detail in bar?.update(fraction: fraction, detail: detail) }
            bar?.finish()
        } catch {
            bar?.finish()
            throw CLIError("cannot quantize \(source.path): \(error)")
        }
        print("wrote \(destination.path): \(summary.quantizedModules.count) quantized modules, \(summary.tensorCount) tensors, "
            + "model.safetensors \(formatBytes(summary.weightBytes))")
        print("files: \(summary.files.joined(separator: ", "))")
    }
}
