import ArgumentParser
import Foundation

/// The bitsandbytes flags, spelled as transformers' `BitsAndBytesConfig` fields, shared by every command that
/// loads or writes a model.
struct QuantizationOptions: ParsableArguments {
    @Flag(name: .customLong("load-in-8bit"), help: "LLM.int8(): int8 weights with outlier decomposition.")
    var loadIn8bit = false

    @Option(name: .customLong("llm-int8-threshold"), help: "Outlier threshold for LLM.int8() (default 6.0; 0 = none).")
    var llmInt8Threshold: Float?

    @Option(name: .customLong("llm-int8-skip-modules"), help: "Comma-separated modules kept unquantized (default: lm_head; \"\" quantizes every linear module, the output head included).")
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

    /// The settings given on the command line as `BitsAndBytesConfig` fields (nil: none given).
    func fields() throws -> [String: Any]? {
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
            // "" is the empty list (nothing skipped, the head quantized too), not a module named "".
            object["llm_int8_skip_modules"] = llmInt8SkipModules.split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if llmInt8EnableFP32CPUOffload { object["llm_int8_enable_fp32_cpu_offload"] = true }
        if let bnb4bitQuantType { object["bnb_4bit_quant_type"] = bnb4bitQuantType }
        if bnb4bitUseDoubleQuant { object["bnb_4bit_use_double_quant"] = true }
        if let bnb4bitComputeDtype { object["bnb_4bit_compute_dtype"] = bnb4bitComputeDtype }
        return object.isEmpty ? nil : object
    }

    /// The same settings as JSON (nil: none given).
    func json() throws -> Data? {
        guard let object = try fields() else { return nil }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
