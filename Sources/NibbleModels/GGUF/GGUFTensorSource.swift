import Foundation
import NibbleFormats
import NibbleKernels

/// A llama GGUF file seen as transformers names it: tensors renamed, q/k rows put back in Hugging Face order,
/// and quantized types dequantized to float32 when read. F32/F16/BF16 tensors keep their type and, when
/// no rows move, are served straight from the file mapping; the others are computed into memory, or for the
/// disk tier into a file in the offload folder.
final class GGUFTensorSource: TensorSource {
    let gguf: GGUFFile
    let location: String
    /// Where tensors computed at load for the disk tier are written (nil: none may be offloaded).
    let offloadFolder: URL?
    /// transformers name → (GGUF tensor, heads whose rotary permutation is undone).
    private let entries: [String: (info: GGUFTensorInfo, heads: Int?)]

    /// Maps every tensor of `gguf`; a tensor the llama architecture does not have is an error naming it.
    init(_ gguf: GGUFFile, config: ModelConfig, offloadFolder: URL? = nil) throws {
        self.gguf = gguf
        location = gguf.path
        self.offloadFolder = offloadFolder
        var entries: [String: (info: GGUFTensorInfo, heads: Int?)] = [:]
        for info in gguf.tensors where info.name != LlamaGGUFMapping.ropeFrequencyFactors {
            guard let name = LlamaGGUFMapping.transformersName(info.name) else {
                throw GGUFError.unsupported(path: gguf.path, reason: "tensor '\(info.name)' is not part of the llama architecture Nibble loads")
            }
            let heads = LlamaGGUFMapping.permutedHeads(name, config: config)
            if let heads {
                let rows = info.shape.count == 2 ? info.shape[0] : 0
                guard heads > 0, rows % (2 * heads) == 0 else {
                    throw GGUFError.invalidTensor(path: gguf.path, tensor: info.name,
                                                  reason: "shape \(info.shape) cannot be split into \(heads) rotary heads")
                }
            }
            entries[name] = (info, heads)
        }
        self.entries = entries
    }

    var tensorNames: [String] { entries.keys.sorted() }

    func contains(_ name: String) -> Bool { entries[name] != nil }

    func layout(of name: String) -> (shape: [Int], byteCount: Int)? {
        guard let info = entries[name]?.info else { return nil }
        let element = Self.loadedType(info.type).size
        return (info.shape, info.elementCount * element)
    }

    /// The type a tensor has once read: plain float types stay, block types become float32 (gguf-py's output).
    static func loadedType(_ type: GGMLType) -> DType {
        switch type {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        default: return .f32
        }
    }

    func tensor(_ name: String) throws -> TensorView { try read(name, offloaded: false) }

    func offloadableTensor(_ name: String) throws -> TensorView { try read(name, offloaded: true) }

    private func read(_ name: String, offloaded: Bool) throws -> TensorView {
        guard let entry = entries[name] else { throw FormatError.missingTensor(name: name, searched: location) }
        let info = entry.info, heads = entry.heads
        let dtype = Self.loadedType(info.type)
        let shape = info.shape
        if heads == nil, dtype.size * info.elementCount == info.byteRange.count {
            // Stored exactly as it loads: a view of the file, no copy.
            return TensorView(name: name, dtype: dtype, shape: shape, file: gguf.file, byteRange: info.byteRange)
        }
        let rowLength = info.dimensions[0], rows = info.elementCount / rowLength
        let storedRowBytes = rowLength / info.type.blockSize * info.type.blockBytes
        let source = gguf.bytes(of: info)
        let byteCount = info.elementCount * dtype.size
        let label = "\(gguf.path) (\(info.name))"
        // [rows, rowLength] in `dtype`: rows in transformers order, dequantized when the file stores blocks.
        let fill = { (out: UnsafeMutableRawBufferPointer) in
            for row in 0..<rows {
                let from = heads.map { LlamaGGUFMapping.sourceRow(row, rows: rows, heads: $0) } ?? row
                let stored = UnsafeRawBufferPointer(rebasing: source[(from * storedRowBytes)..<((from + 1) * storedRowBytes)])
                if dtype.size * rowLength == storedRowBytes {
                    UnsafeMutableRawBufferPointer(rebasing: out[(row * storedRowBytes)..<((row + 1) * storedRowBytes)])
                        .copyMemory(from: stored)
                } else {
                    let floats = out.baseAddress!.advanced(by: row * rowLength * 4).bindMemory(to: Float.self, capacity: rowLength)
                    GGMLDequantizer.dequantize(stored, type: info.type, into: UnsafeMutableBufferPointer(start: floats, count: rowLength))
                }
            }
        }
        let memory: MappedFile
        if offloaded {
            guard let offloadFolder else {
                throw ModelError.invalidOptions("\(name) of \(gguf.path) is placed on disk, but it is converted at load "
                                                + "(dequantized or its rows reordered), so it needs a file to live in: give an offload "
                                                + "folder (--offload-folder DIR, or offload_folder in the model's placement)")
            }
            memory = try MappedFile(spillingTo: offloadFolder, count: byteCount, label: label, fill: fill)
        } else {
            memory = try MappedFile(anonymous: byteCount, label: label, fill: fill)
        }
        // The converted copy is what is used from now on: the file's own pages of this tensor are not needed.
        if let start = source.baseAddress { releasePages(start, count: source.count) }
        return TensorView(name: name, dtype: dtype, shape: shape, file: memory, byteRange: 0..<byteCount)
    }
}
