import NibbleFormats
import NibbleKernels
import NibbleQuant

/// A linear weight a checkpoint holds already quantized by bitsandbytes: its tensors, checked against each other
/// and against the shape the model expects, still borrowed from the file mapping (nothing copied yet).
enum StoredQuantizedLinear: Sendable {
    case fourBit(StoredFourBitLinear)
    case int8(StoredInt8Linear)

    /// Copies the stored tensors into a weight the model computes with.
    func materialize() -> any LinearWeight {
        switch self {
        case .fourBit(let stored): return stored.materialize()
        case .int8(let stored): return stored.materialize()
        }
    }

    /// Bytes the stored tensors occupy in the checkpoint (codes, scales, maps, state blob).
    var storedBytes: Int {
        switch self {
        case .fourBit(let stored): return stored.views.reduce(0) { $0 + $1.byteRange.count }
        case .int8(let stored): return stored.views.reduce(0) { $0 + $1.byteRange.count }
        }
    }

    /// The format name the materialized weight reports ("nf4+dq", "fp4", "int8").
    var formatName: String {
        switch self {
        case .fourBit(let stored): return stored.state.quantType.rawValue + (stored.state.nested != nil ? "+dq" : "")
        case .int8: return "int8"
        }
    }

    /// Drops the pages of the stored tensors from this process (they are read back from the file on next use).
    func releasePages() {
        let views: [TensorView]
        switch self {
        case .fourBit(let stored): views = stored.views
        case .int8(let stored): views = stored.views
        }
        for view in views where view.byteRange.count > 0 {
            NibbleKernels.releasePages(view.bytes.baseAddress!, count: view.bytes.count)
        }
    }
}

/// `P.weight` + `P.weight.absmax` (+ nested absmax) + the quant_state blob of a 4-bit `Linear4bit`.
struct StoredFourBitLinear: Sendable {
    let state: FourBitQuantState
    let computeDType: ComputeDType
    /// ((n+1)/2, 1) u8 packed nibbles, first element in the high nibble.
    let packed: TensorView
    /// (blocks) f32 absmax, or (blocks) u8 codes when double-quantized.
    let absmax: TensorView
    /// (ceil(blocks/nested_blocksize)) f32, only with double quantization.
    let nestedAbsmax: TensorView?
    /// Every tensor of the module, for byte counts and page release.
    let views: [TensorView]

    func materialize() -> FourBitWeight {
        let nested = nestedAbsmax.map { view in
            NestedAbsmax(codes: absmax.data(), nestedAbsmax: view.floats(), offset: state.nested!.offset,
                         blocksize: state.nested!.blocksize)
        }
        return FourBitWeight(outFeatures: state.shape[0], inFeatures: state.shape[1], quantType: state.quantType,
                             blocksize: state.blocksize, computeDType: computeDType, originalDType: state.dtype,
                             packed: packed.data(), absmax: nested == nil ? absmax.floats() : [], nested: nested)
    }
}

/// `P.weight` (int8 CB) + `P.SCB` of an LLM.int8() `Linear8bitLt`.
struct StoredInt8Linear: Sendable {
    /// (out, in) i8 row-quantized weight.
    let cb: TensorView
    /// (out) f32 row absmax.
    let scb: TensorView
    let threshold: Float
    let views: [TensorView]

    func materialize() -> Int8Weight {
        let raw = cb.bytes
        let codes = [Int8](unsafeUninitializedCapacity: raw.count) { out, initialized in  // (out*in)
            for i in 0..<raw.count { out[i] = Int8(bitPattern: raw[i]) }
            initialized = raw.count
        }
        return Int8Weight(outFeatures: cb.shape[0], inFeatures: cb.shape[1], cb: codes, scb: scb.floats(),
                          threshold: threshold)
    }
}

/// An offloaded (disk-tier) pre-quantized weight: the quantized tensors stay in the checkpoint mapping and are
/// copied in for each use, then their pages are dropped, so resident memory stays within the placement budget.
struct OffloadedQuantizedWeight: LinearWeight {
    let stored: StoredQuantizedLinear
    let outFeatures: Int
    let inFeatures: Int

    var storageBytes: Int { stored.storedBytes }
    var formatName: String { stored.formatName }

    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        stored.materialize().apply(x, rows: rows, into: y)
    }

    func releaseResidentPages() { stored.releasePages() }
}
