import Foundation
import NibbleFormats
import NibbleKernels
import NibbleQuant

/// Writes a float checkpoint back out quantized, in the bitsandbytes layout transformers' `save_pretrained`
/// produces and loads: the same tensor names, dtypes, shapes and bytes, config.json with `quantization_config`,
/// and the tokenizer and generation files copied alongside.
public enum QuantizedCheckpointWriter {
    /// The float type non-quantized tensors are written in (transformers' `dtype` at load).
    public enum WeightDType: String, Sendable, CaseIterable {
        /// Each tensor keeps its stored type.
        case auto
        case float32, float16, bfloat16

        var storage: DType? {
            switch self {
            case .auto: return nil
            case .float32: return .f32
            case .float16: return .f16
            case .bfloat16: return .bf16
            }
        }
    }

    /// What was written.
    public struct Summary: Sendable {
        /// Modules stored quantized, e.g. "model.layers.0.mlp.down_proj".
        public var quantizedModules: [String]
        /// Number of tensors in model.safetensors.
        public var tensorCount: Int
        /// Size of model.safetensors in bytes.
        public var weightBytes: Int
        /// Files written into the output directory, by name.
        public var files: [String]
    }

    /// Files besides the weights that a model directory needs and that are copied as they are.
    public static let companionFiles = ["generation_config.json", "tokenizer.json", "tokenizer.model",
                                        "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                                        "chat_template.jinja"]

    /// Quantizes the checkpoint in `source` per `quantizationConfigJSON` (a `BitsAndBytesConfig`, transformers'
    /// field names) into the new directory `destination`.
    /// - Parameter loraDirectory: a PEFT LoRA adapter merged into the float weights before they are quantized
    ///   (what loading with `loraDirectory` does), so the output is the adapted model, quantized once.
    public static func write(from source: URL, to destination: URL, quantizationConfigJSON: Data,
                             dtype: WeightDType = .auto, loraDirectory: URL? = nil,
                             progress: ((Double, String) -> Void)? = nil) throws -> Summary {
        let settings: BitsAndBytesConfig
        do { settings = try BitsAndBytesConfig.decodeStrict(from: quantizationConfigJSON) } catch {
            throw ModelError.invalidOptions("\(error)")
        }
        let config = try ModelConfig(directory: source)
        guard config.quantizationConfigJSON == nil else {
            throw ModelError.invalidOptions("\(source.path) is already quantized (its config.json has a quantization_config)")
        }
        if source.standardizedFileURL.path == destination.standardizedFileURL.path {
            throw ModelError.invalidOptions("the output directory must differ from the model directory")
        }
        let fm = FileManager.default
        if let existing = try? fm.contentsOfDirectory(atPath: destination.path),
           existing.contains(where: { $0 == "config.json" || $0.hasSuffix(".safetensors") }) {
            throw ModelError.invalidOptions("\(destination.path) already holds a checkpoint; choose an empty or new directory")
        }
        let archive = try SafetensorsArchive(directory: source)
        let lora = try loraDirectory.map { try LoRAAdapter(directory: $0) }
        progress?(0, "reading \(archive.files.count) weight file(s)")
        let (tensors, quantized) = try self.tensors(archive: archive, config: config, settings: settings, dtype: dtype,
                                                    lora: lora) {
            progress?(0.9 * $0, $1)
        }

        try fm.createDirectory(at: destination, withIntermediateDirectories: true)
        progress?(0.9, "writing model.safetensors")
        let weightsURL = destination.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], ordering: .byDTypeThenName, to: weightsURL)
        var files = ["model.safetensors"]

        let configData = try configJSON(source: source.appendingPathComponent("config.json"), settings: settings, dtype: dtype)
        try configData.write(to: destination.appendingPathComponent("config.json"), options: .atomic)
        files.append("config.json")
        for name in companionFiles where fm.fileExists(atPath: source.appendingPathComponent(name).path) {
            let target = destination.appendingPathComponent(name)
            if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
            try fm.copyItem(at: source.appendingPathComponent(name), to: target)
            files.append(name)
        }
        progress?(1, "done")
        let weightBytes = (try? fm.attributesOfItem(atPath: weightsURL.path)[.size] as? Int) ?? 0
        return Summary(quantizedModules: quantized, tensorCount: tensors.count, weightBytes: weightBytes,
                       files: files)
    }

    /// Every tensor of the quantized checkpoint, and the names of the modules quantized.
    ///
    /// Linear weights the plan quantizes become bitsandbytes' tensors; everything else is converted to `dtype`
    /// (float tensors only) and kept.
    public static func tensors(archive: SafetensorsArchive, config: ModelConfig, settings: BitsAndBytesConfig,
                               dtype: WeightDType, lora: LoRAAdapter? = nil,
                               progress: (Double, String) -> Void = { _, _ in }) throws -> ([TensorRecord], [String]) {
        let plan: QuantizationPlan
        do { plan = try settings.validated() } catch { throw ModelError.invalidOptions("\(error)") }
        if plan.mode == .none {
            throw ModelError.invalidOptions("nothing to quantize: set load_in_4bit or load_in_8bit (--load-in-4bit / --load-in-8bit)")
        }
        let family = try ModelFamilies.resolve(config)
        let linears = Set(family.layout.linearModules(layerCount: family.architecture.layerCount,
                                                      hasLMHead: archive.contains(family.layout.lmHead + ".weight")))
        var records: [TensorRecord] = []
        var quantized: [String] = []
        // Tensors the family drops are not weights (transformers does not save them either).
        let names = archive.tensorNames.filter { !family.dropsTensor($0) }
        for (index, name) in names.enumerated() {
            let view = try archive.tensor(name)
            let module = name.hasSuffix(".weight") ? String(name.dropLast(".weight".count)) : ""
            if let delta = lora?.delta(for: module) {
                guard view.shape.count == 2, view.dtype.isFloatingPoint, delta.count == view.shape[0] * view.shape[1] else {
                    throw ModelError.invalidAdapter(path: lora!.directory.path,
                                                    reason: "LoRA update for '\(module)' does not match its \(view.shape) weight")
                }
                // As at load: the merged weight is float32 (no longer representable in the checkpoint's half type).
                var merged = view.floats()  // (out, in)
                for i in merged.indices { merged[i] += delta[i] }
                if linears.contains(module), plan.shouldQuantize(moduleName: module) {
                    records += quantize(merged, module: module, out: view.shape[0], inputs: view.shape[1],
                                        plan: plan, dtypeName: "float32")
                    quantized.append(module)
                } else {
                    records.append(TensorRecord(name: name, dtype: .f32, shape: view.shape, bytes: bytes(merged)))
                }
            } else if linears.contains(module), plan.shouldQuantize(moduleName: module) {
                guard view.shape.count == 2, view.dtype.isFloatingPoint else {
                    throw ModelError.invalidWeight(name: name, reason: "\(view.dtype.rawValue) \(view.shape) is not a float matrix")
                }
                records += quantize(view, module: module, plan: plan, dtype: dtype)
                quantized.append(module)
            } else {
                records.append(convert(view, to: dtype))
            }
            progress(Double(index + 1) / Double(names.count), "\(index + 1)/\(names.count) \(name)")
        }
        return (records, quantized)
    }

    /// The float values of `view` at the precision of the dtype it is loaded in, and that dtype's torch name.
    static func loadedValues(_ view: TensorView, dtype: WeightDType) -> ([Float], String) {
        let stored = view.dtype
        let target = dtype.storage ?? stored
        var values = view.floats()
        switch target {
        case .f16: if stored != .f16 { for i in values.indices { values[i] = roundToF16(values[i]) } }
        case .bf16: if stored != .bf16 { for i in values.indices { values[i] = roundToBF16(values[i]) } }
        default: break
        }
        let name = target == .f16 ? "float16" : target == .bf16 ? "bfloat16" : target == .f64 ? "float64" : "float32"
        return (values, name)
    }

    /// A non-quantized tensor in the output dtype (non-float tensors are copied unchanged).
    static func convert(_ view: TensorView, to dtype: WeightDType) -> TensorRecord {
        guard let target = dtype.storage, view.dtype.isFloatingPoint, view.dtype != target else {
            return TensorRecord(name: view.name, dtype: view.dtype, shape: view.shape, bytes: view.data())
        }
        let (values, _) = loadedValues(view, dtype: dtype)
        var bytes = [UInt8]()  // (elements × target size)
        bytes.reserveCapacity(values.count * target.size)
        switch target {
        case .f32: values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        case .f16: for v in values { withUnsafeBytes(of: f32ToF16(v).littleEndian) { bytes.append(contentsOf: $0) } }
        default: for v in values { withUnsafeBytes(of: f32ToBF16(v).littleEndian) { bytes.append(contentsOf: $0) } }
        }
        return TensorRecord(name: view.name, dtype: target, shape: view.shape, bytes: bytes)
    }

    /// The bitsandbytes tensors of one quantized linear weight.
    static func quantize(_ view: TensorView, module: String, plan: QuantizationPlan, dtype: WeightDType) -> [TensorRecord] {
        let (values, dtypeName) = loadedValues(view, dtype: dtype)
        return quantize(values, module: module, out: view.shape[0], inputs: view.shape[1], plan: plan, dtypeName: dtypeName)
    }

    /// The bitsandbytes tensors of float `values` `(out, inputs)` that were held in torch dtype `dtypeName`.
    static func quantize(_ values: [Float], module: String, out: Int, inputs: Int, plan: QuantizationPlan,
                         dtypeName: String) -> [TensorRecord] {
        let weight = values.withUnsafeBufferPointer {
            plan.quantize(weight: $0, outFeatures: out, inFeatures: inputs, moduleName: module, originalDType: dtypeName)
        }
        if let fourBit = weight as? FourBitWeight { return records(fourBit, module: module) }
        if let int8 = weight as? Int8Weight { return records(int8, module: module) }
        preconditionFailure("a quantization plan produced \(String(describing: weight))")
    }

    /// `Linear4bit`'s state dict: weight, absmax, quant_map, nested_* and the quant_state blob.
    public static func records(_ weight: FourBitWeight, module: String) -> [TensorRecord] {
        let p = module + ".weight"
        let state = FourBitQuantState(weight)
        var records = [
            TensorRecord(name: p, dtype: .u8, shape: [weight.packed.count, 1], bytes: weight.packed),
            TensorRecord(name: p + ".quant_map", dtype: .f32, shape: [16], bytes: bytes(BitsAndBytesMaps.quantMap(weight.quantType))),
        ]
        if let nested = weight.nested {
            records += [
                TensorRecord(name: p + ".absmax", dtype: .u8, shape: [nested.codes.count], bytes: nested.codes),
                TensorRecord(name: p + ".nested_absmax", dtype: .f32, shape: [nested.nestedAbsmax.count], bytes: bytes(nested.nestedAbsmax)),
                TensorRecord(name: p + ".nested_quant_map", dtype: .f32, shape: [256], bytes: bytes(BitsAndBytesMaps.nestedQuantMap)),
            ]
        } else {
            records.append(TensorRecord(name: p + ".absmax", dtype: .f32, shape: [weight.absmax.count], bytes: bytes(weight.absmax)))
        }
        let blob = state.serialized()
        records.append(TensorRecord(name: p + "." + FourBitQuantState.blobSuffix(weight.quantType), dtype: .u8,
                                    shape: [blob.count], bytes: blob))
        return records
    }

    /// `Linear8bitLt`'s state dict: weight (CB), SCB and weight_format 0 (row-major).
    public static func records(_ weight: Int8Weight, module: String) -> [TensorRecord] {
        [
            TensorRecord(name: module + ".weight", dtype: .i8, shape: [weight.outFeatures, weight.inFeatures],
                         bytes: weight.cb.map { UInt8(bitPattern: $0) }),
            TensorRecord(name: module + ".SCB", dtype: .f32, shape: [weight.outFeatures], bytes: bytes(weight.scb)),
            TensorRecord(name: module + ".weight_format", dtype: .u8, shape: [], bytes: [0]),
        ]
    }

    static func bytes(_ floats: [Float]) -> [UInt8] { floats.withUnsafeBytes { Array($0) } }

    /// config.json as transformers saves a quantized model: the source config with `dtype` updated and
    /// `quantization_config` added, written with sorted keys and two-space indentation.
    static func configJSON(source: URL, settings: BitsAndBytesConfig, dtype: WeightDType) throws -> Data {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(contentsOf: source))) as? [String: Any] else {
            throw FormatError.invalidConfig(path: source.path, reason: "not a JSON object")
        }
        guard case .object(var members) = try PythonJSON(foundation: object) else {
            throw FormatError.invalidConfig(path: source.path, reason: "not a JSON object")
        }
        if dtype != .auto {
            let keys = members.map(\.0).filter { $0 == "dtype" || $0 == "torch_dtype" }
            for key in keys.isEmpty ? ["dtype"] : keys {
                members.removeAll { $0.0 == key }
                members.append((key, .string(dtype.rawValue)))
            }
        }
        members.removeAll { $0.0 == "quantization_config" }
        members.append(("quantization_config", settings.transformersDictionary()))
        return Data((PythonJSON.object(members).dumps(indent: 2, sortKeys: true) + "\n").utf8)
    }
}
