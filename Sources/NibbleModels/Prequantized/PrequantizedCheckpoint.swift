import Foundation
import NibbleFormats
import NibbleQuant

/// A checkpoint saved by transformers + bitsandbytes with its linear weights already quantized: the
/// `quantization_config` from its config.json and the archive holding the quantized tensors.
struct PrequantizedCheckpoint: Sendable {
    let config: BitsAndBytesConfig
    let plan: QuantizationPlan
    let archive: SafetensorsArchive

    /// Whether an archive holds tensors only bitsandbytes writes (int8 `SCB`, 4-bit quant_state blobs / absmax).
    static func holdsQuantizedTensors(_ archive: SafetensorsArchive) -> Bool {
        archive.tensorNames.contains {
            $0.hasSuffix(".SCB") || $0.hasSuffix(".weight.absmax") || $0.contains(".weight.quant_state.bitsandbytes__")
        }
    }

    /// Reads the checkpoint's own `quantization_config` (transformers' layout, private keys included).
    init(quantizationConfigJSON json: Data, archive: SafetensorsArchive, configPath: String) throws {
        func fail(_ reason: String) -> ModelError { .invalidOptions("\(configPath): quantization_config: \(reason)") }
        let config: BitsAndBytesConfig
        do {
            config = try JSONDecoder().decode(BitsAndBytesConfig.self, from: json)
        } catch {
            throw fail("cannot read it as a BitsAndBytesConfig (\(error))")
        }
        guard config.quantMethod == "bitsandbytes" else {
            throw fail("quant_method \"\(config.quantMethod)\" is not supported (only \"bitsandbytes\" checkpoints load)")
        }
        let plan: QuantizationPlan
        do { plan = try config.validated() } catch { throw fail("\(error)") }
        if plan.mode == .none { throw fail("neither load_in_4bit nor load_in_8bit is set") }
        if config.loadIn8bit && config.llmInt8HasFp16Weight {
            throw fail("llm_int8_has_fp16_weight checkpoints keep fp16 weights for training and are not supported")
        }
        guard Self.holdsQuantizedTensors(archive) else {
            throw fail("declares bitsandbytes quantization, but \(archive.location) holds no quantized tensors")
        }
        self.config = config
        self.plan = plan
        self.archive = archive
    }

    /// The stored quantized weight of linear `module` (without `.weight`), or nil when the module was left dense
    /// (skip modules such as lm_head). `outFeatures`/`inFeatures` are what the model expects.
    func storedLinear(_ module: String, outFeatures: Int, inFeatures: Int) throws -> StoredQuantizedLinear? {
        let blobs = FourBitQuantType.allCases.map { module + ".weight." + FourBitQuantState.blobSuffix($0) }
            .filter { archive.contains($0) }
        let scbName = module + ".SCB"
        if blobs.count > 1 { throw ModelError.invalidWeight(name: module + ".weight", reason: "has both an nf4 and an fp4 quant_state") }
        if let blob = blobs.first {
            if archive.contains(scbName) {
                throw ModelError.invalidWeight(name: module + ".weight", reason: "has both 4-bit and int8 (SCB) tensors")
            }
            guard case .fourBit(_, _, let computeDType) = plan.mode else {
                throw ModelError.invalidWeight(name: blob, reason: "is a 4-bit quant_state, but config.json's quantization_config is 8-bit")
            }
            return .fourBit(try fourBit(module, blob: blob, outFeatures: outFeatures, inFeatures: inFeatures,
                                        computeDType: computeDType))
        }
        if archive.contains(scbName) {
            guard case .int8(let threshold) = plan.mode else {
                throw ModelError.invalidWeight(name: scbName, reason: "is an int8 scale, but config.json's quantization_config is 4-bit")
            }
            return .int8(try int8(module, threshold: threshold, outFeatures: outFeatures, inFeatures: inFeatures))
        }
        let orphans = [".weight.absmax", ".weight.quant_map", ".weight.nested_absmax", ".weight_format"]
            .map { module + $0 }.filter { archive.contains($0) }
        if let orphan = orphans.first {
            throw ModelError.invalidWeight(name: orphan, reason: "is a quantization tensor, but \(module) has no quant_state or SCB")
        }
        return nil
    }

    private func tensor(_ name: String, _ dtype: DType, _ shape: [Int]) throws -> TensorView {
        guard let view = archive.tensorIfPresent(name) else {
            throw ModelError.invalidWeight(name: name, reason: "missing from \(archive.location)")
        }
        guard view.dtype == dtype, view.shape == shape else {
            throw ModelError.invalidWeight(name: name, reason: "is \(view.dtype.rawValue) \(view.shape), expected \(dtype.rawValue) \(shape)")
        }
        return view
    }

    private func fourBit(_ module: String, blob blobName: String, outFeatures: Int, inFeatures: Int,
                         computeDType: ComputeDType) throws -> StoredFourBitLinear {
        let blob = try archive.tensor(blobName)
        guard blob.dtype == .u8, blob.shape.count == 1 else {
            throw ModelError.invalidWeight(name: blobName, reason: "is \(blob.dtype.rawValue) \(blob.shape), expected a U8 vector of JSON bytes")
        }
        let state: FourBitQuantState
        do { state = try FourBitQuantState(parsing: blob.data(), tensor: blobName) } catch {
            throw ModelError.invalidWeight(name: blobName, reason: "\(error)")
        }
        guard state.shape == [outFeatures, inFeatures] else {
            throw ModelError.invalidWeight(name: blobName, reason: "quant_state shape \(state.shape) does not match the model's [\(outFeatures), \(inFeatures)]")
        }
        let n = state.elementCount
        let weightName = module + ".weight"
        if let view = archive.tensorIfPresent(weightName), view.dtype != .u8 {
            throw ModelError.invalidWeight(name: weightName, reason: "is \(view.dtype.rawValue); only bnb_4bit_quant_storage uint8 (U8) is supported")
        }
        let packed = try tensor(weightName, .u8, [(n + 1) / 2, 1])
        let nested = state.nested != nil
        let absmax = try tensor(module + ".weight.absmax", nested ? .u8 : .f32, [state.blockCount])
        let quantMap = try tensor(module + ".weight.quant_map", .f32, [16])
        guard quantMap.floats() == BitsAndBytesMaps.quantMap(state.quantType) else {
            throw ModelError.invalidWeight(name: quantMap.name, reason: "is not bitsandbytes' \(state.quantType.rawValue) code table")
        }
        var views = [packed, absmax, quantMap, blob]
        var nestedAbsmax: TensorView?
        if state.nested != nil {
            let values = try tensor(module + ".weight.nested_absmax", .f32, [state.nestedBlockCount])
            let map = try tensor(module + ".weight.nested_quant_map", .f32, [256])
            guard map.floats() == BitsAndBytesMaps.nestedQuantMap else {
                throw ModelError.invalidWeight(name: map.name, reason: "is not bitsandbytes' dynamic 8-bit map")
            }
            nestedAbsmax = values
            views += [values, map]
        } else {
            for extra in [".weight.nested_absmax", ".weight.nested_quant_map"] where archive.contains(module + extra) {
                throw ModelError.invalidWeight(name: module + extra, reason: "present, but the quant_state has no nested_* keys")
            }
        }
        return StoredFourBitLinear(state: state, computeDType: computeDType, packed: packed, absmax: absmax,
                                   nestedAbsmax: nestedAbsmax, views: views)
    }

    private func int8(_ module: String, threshold: Float, outFeatures: Int, inFeatures: Int) throws -> StoredInt8Linear {
        let cb = try tensor(module + ".weight", .i8, [outFeatures, inFeatures])
        let scb = try tensor(module + ".SCB", .f32, [outFeatures])
        var views = [cb, scb]
        // Older bitsandbytes versions wrote no weight_format; when present it must say "row" (0).
        if let format = archive.tensorIfPresent(module + ".weight_format") {
            guard format.dtype == .u8, format.elementCount == 1 else {
                throw ModelError.invalidWeight(name: format.name, reason: "is \(format.dtype.rawValue) \(format.shape), expected a U8 scalar")
            }
            guard format.data() == [0] else {
                throw ModelError.invalidWeight(name: format.name, reason: "is \(format.data()[0]) (a GPU tile layout); only 0 (row-major) loads on CPU")
            }
            views.append(format)
        }
        return StoredInt8Linear(cb: cb, scb: scb, threshold: threshold, views: views)
    }
}
