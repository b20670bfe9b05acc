import CNibbleKernels

/// Element formats a dense (unquantized) weight can be stored in.
public enum DenseFormat: String, Sendable {
    case f32, f16, bf16

    /// Bytes per element.
    public var size: Int { self == .f32 ? 4 : 2 }
}

/// An unquantized weight matrix `(outFeatures, inFeatures)` row-major, kept in the format it was stored in.
///
/// The storage is either owned (resident in RAM) or borrowed from a memory-mapped checkpoint (the disk tier:
/// pages come in from the file as rows are read and can be dropped by the kernel under memory pressure).
public struct DenseWeight: LinearWeight, @unchecked Sendable {
    public let outFeatures: Int
    public let inFeatures: Int
    public let format: DenseFormat
    /// Raw elements, `(outFeatures, inFeatures)` row-major in `format`.
    private let base: UnsafeRawPointer
    /// Keeps owned storage or the mapping alive.
    private let owner: AnyObject
    /// Whether the bytes live in a file mapping rather than in memory we allocated.
    public let isMapped: Bool

    /// Wraps float32 values `(outFeatures, inFeatures)` that this weight will own.
    public init(f32 values: [Float], outFeatures: Int, inFeatures: Int) {
        precondition(values.count == outFeatures * inFeatures, "weight is not (out, in)")
        let storage = OwnedBytes(count: values.count * 4)
        values.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.init(format: .f32, outFeatures: outFeatures, inFeatures: inFeatures, base: UnsafeRawPointer(storage.pointer),
                  owner: storage, isMapped: false)
    }

    /// Copies raw elements into memory this weight owns (the cpu tier).
    public init(copying bytes: UnsafeRawBufferPointer, format: DenseFormat, outFeatures: Int, inFeatures: Int) {
        precondition(bytes.count == outFeatures * inFeatures * format.size, "weight bytes do not match (out, in)")
        let storage = OwnedBytes(count: bytes.count)
        storage.pointer.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        self.init(format: format, outFeatures: outFeatures, inFeatures: inFeatures, base: UnsafeRawPointer(storage.pointer),
                  owner: storage, isMapped: false)
    }

    /// Borrows raw elements from a mapping kept alive by `owner` (the disk tier).
    public init(mapped bytes: UnsafeRawBufferPointer, format: DenseFormat, outFeatures: Int, inFeatures: Int, owner: AnyObject) {
        precondition(bytes.count == outFeatures * inFeatures * format.size, "weight bytes do not match (out, in)")
        self.init(format: format, outFeatures: outFeatures, inFeatures: inFeatures, base: bytes.baseAddress!,
                  owner: owner, isMapped: true)
    }

    private init(format: DenseFormat, outFeatures: Int, inFeatures: Int, base: UnsafeRawPointer, owner: AnyObject, isMapped: Bool) {
        self.format = format
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.base = base
        self.owner = owner
        self.isMapped = isMapped
    }

    public var storageBytes: Int { outFeatures * inFeatures * format.size }

    public func releaseResidentPages() {
        guard isMapped else { return }
        releasePages(base, count: storageBytes)
    }
    public var formatName: String { format.rawValue }

    /// Row `r` widened to float32.
    public func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let n = inFeatures
        switch format {
        case .f32:
            out.update(from: base.assumingMemoryBound(to: Float.self) + r * n, count: n)
        case .f16:
            widenF16(base.assumingMemoryBound(to: UInt16.self) + r * n, into: out, count: n)
        case .bf16:
            widenBF16(base.assumingMemoryBound(to: UInt16.self) + r * n, into: out, count: n)
        }
    }

    /// All elements widened to float32, `(outFeatures, inFeatures)`.
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: outFeatures * inFeatures) { out, initialized in
            for r in 0..<outFeatures { row(r, into: out.baseAddress! + r * inFeatures) }
            initialized = outFeatures * inFeatures
        }
    }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        apply(x, rows: rows, into: y, path: .current)
    }

    /// `apply` on a chosen kernel path (tests compare the vector path with the portable one).
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, path: KernelPath) {
        // Output features are split across threads in multiples of 4 (the kernels' register tile); within a
        // chunk every weight tile is read once and reused for all input rows.
        prepareProduct(x, rows: rows, into: y, path: path).runAndFinish()
    }

    public func prepareProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) -> PreparedProduct? {
        prepareProduct(x, rows: rows, into: y, path: .current)
    }

    /// `prepareProduct` on a chosen kernel path. Nothing is prepared: the kernel reads float32 input as is.
    public func prepareProduct(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>,
                               path: KernelPath) -> PreparedProduct {
        let n = inFeatures, m = outFeatures
        let base = self.base
        let format: nibble_weight_format
        switch self.format {
        case .f32: format = NIBBLE_WEIGHT_F32
        case .f16: format = NIBBLE_WEIGHT_F16
        case .bf16: format = NIBBLE_WEIGHT_BF16
        }
        let implementation = path.implementation
        // A large matrix (an output head, or any layer of a big model) streams from memory for milliseconds:
        // finer chunks claimed as threads free up keep one descheduled thread from holding up the step.
        // Results do not depend on the split (every output's sum runs in the same order in any tile).
        let chunks = m * n >= 1 << 22 ? 4 : 1
        return PreparedProduct(outFeatures: m, work: m * n * rows, chunksPerThread: chunks) { range in
            nibble_matmul(implementation, format, x, rows, n, base, n, range.lowerBound, range.upperBound, y, m)
        }
    }
}

/// Heap bytes freed with their owner.
final class OwnedBytes: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }

    deinit { pointer.deallocate() }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells the kernel the whole pages inside `[base, base + count)` of a read-only file mapping are not needed
/// now; they are dropped from this process and read back from the file on next use.
public func releasePages(_ base: UnsafeRawPointer, count: Int) {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = (Int(bitPattern: base) + page - 1) / page * page
    let end = (Int(bitPattern: base) + count) / page * page
    guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(pointer, end - start, Int32(MADV_DONTNEED))
}
