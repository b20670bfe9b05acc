import Foundation

extension BitsAndBytesConfig {
    /// The `quantization_config` object exactly as transformers' `BitsAndBytesConfig.to_dict()` produces it for
    /// config.json (private `_load_in_*` flags included, dtypes as bare torch names).
    public func transformersDictionary() -> PythonJSON {
        let computeName = Self.computeDType(named: bnb4bitComputeDtype)?.rawValue ?? bnb4bitComputeDtype
        return .object([
            ("quant_method", .string(quantMethod)),
            ("_load_in_8bit", .bool(loadIn8bit)),
            ("_load_in_4bit", .bool(loadIn4bit)),
            ("llm_int8_threshold", .float(llmInt8Threshold)),
            ("llm_int8_skip_modules", llmInt8SkipModules.map { .array($0.map { .string($0) }) } ?? .null),
            ("llm_int8_enable_fp32_cpu_offload", .bool(llmInt8EnableFp32CpuOffload)),
            ("llm_int8_has_fp16_weight", .bool(llmInt8HasFp16Weight)),
            ("bnb_4bit_quant_type", .string(bnb4bitQuantType)),
            ("bnb_4bit_use_double_quant", .bool(bnb4bitUseDoubleQuant)),
            ("bnb_4bit_compute_dtype", .string(computeName)),
            ("bnb_4bit_quant_storage", .string(bnb4bitQuantStorage)),
            ("load_in_4bit", .bool(loadIn4bit)),
            ("load_in_8bit", .bool(loadIn8bit)),
        ])
    }

    /// Fields a caller set explicitly in `userJSON` whose value differs from this (a checkpoint's) config,
    /// as "field: given X, checkpoint has Y" lines; empty when they agree.
    ///
    /// Only keys present in `userJSON` count, so `{"load_in_4bit": true}` agrees with any 4-bit checkpoint.
    /// `llm_int8_enable_fp32_cpu_offload` is a loading permission, not a property of the stored weights, and is
    /// never a conflict.
    public func conflicts(withUserJSON userJSON: Data) throws -> [String] {
        guard let object = try JSONSerialization.jsonObject(with: userJSON) as? [String: Any] else {
            throw QuantizationError.invalidField(field: "(root)", message: "expected a JSON object")
        }
        let user = try BitsAndBytesConfig.decodeStrict(from: userJSON)
        func describe(_ value: Any?) -> String {
            guard let value else { return "null" }
            if let text = value as? String { return "\"\(text)\"" }
            if let list = value as? [String] { return "[" + list.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
            return "\(value)"
        }
        var lines: [String] = []
        func check<T: Equatable>(_ key: String, _ given: T, _ saved: T) {
            if given != saved { lines.append("\(key): given \(describe(given)), checkpoint has \(describe(saved))") }
        }
        for key in object.keys.sorted() {
            switch key {
            case "load_in_8bit", "_load_in_8bit": check(key, user.loadIn8bit, loadIn8bit)
            case "load_in_4bit", "_load_in_4bit": check(key, user.loadIn4bit, loadIn4bit)
            case "llm_int8_threshold": check(key, user.llmInt8Threshold, llmInt8Threshold)
            case "llm_int8_skip_modules": check(key, user.llmInt8SkipModules, llmInt8SkipModules)
            case "llm_int8_has_fp16_weight": check(key, user.llmInt8HasFp16Weight, llmInt8HasFp16Weight)
            case "bnb_4bit_quant_type": check(key, user.bnb4bitQuantType, bnb4bitQuantType)
            case "bnb_4bit_use_double_quant": check(key, user.bnb4bitUseDoubleQuant, bnb4bitUseDoubleQuant)
            case "bnb_4bit_compute_dtype":
                let given = Self.computeDType(named: user.bnb4bitComputeDtype)?.rawValue ?? user.bnb4bitComputeDtype
                let saved = Self.computeDType(named: bnb4bitComputeDtype)?.rawValue ?? bnb4bitComputeDtype
                check(key, given, saved)
            case "bnb_4bit_quant_storage": check(key, user.bnb4bitQuantStorage, bnb4bitQuantStorage)
            case "quant_method": check(key, user.quantMethod, quantMethod)
            default: break
            }
        }
        return lines
    }
}
