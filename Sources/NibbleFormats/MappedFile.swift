import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file; unmapped when the last reference goes away.
///
/// Pages are loaded by the kernel on first touch, so mapping a checkpoint costs no resident memory until
/// its tensors are read — which is what makes the disk tier of layer offload work.
public final class MappedFile: @unchecked Sendable {
    /// Path the file was mapped from.
    public let path: String
    /// Start of the mapping (nil for an empty file).
    public let base: UnsafeRawPointer?
    /// Length in bytes.
    public let count: Int

    /// Maps `path` read-only.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw FormatError.fileNotFound(path: path) }
            throw FormatError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw FormatError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        count = Int(info.st_size)
        if count == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw FormatError.unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapped)
    }

    /// Anonymous memory of `count` bytes filled by `fill`, standing in for a file: tensors computed at load
    /// (dequantized GGUF data) are served as views like mapped ones. `label` names it in errors and reports.
    public init(anonymous count: Int, label: String, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        path = label
        self.count = count
        guard count > 0 else {
            base = nil
            return
        }
        let mapped = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw FormatError.unreadable(path: label, reason: "cannot allocate \(count) bytes: \(String(cString: strerror(errno)))")
        }
        do {
            try fill(UnsafeMutableRawBufferPointer(start: mapped, count: count))
        } catch {
            munmap(mapped, count)
            throw error
        }
        base = UnsafeRawPointer(mapped)
    }

    /// `count` bytes filled by `fill` in an unnamed file in `directory` (created, then unlinked at once, so it goes
    /// away with the mapping), mapped shared: tensors computed at load for the disk tier, whose pages can be
    /// dropped after use and read back from the file as a checkpoint's are.
    public init(spillingTo directory: URL, count: Int, label: String,
                fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        path = label
        self.count = count
        guard count > 0 else {
            base = nil
            return
        }
        var template = Array(directory.appendingPathComponent("nibble-offload-XXXXXX").path.utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FormatError.unreadable(path: directory.path, reason: "cannot create an offload file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        guard ftruncate(fd, off_t(count)) == 0 else {
            throw FormatError.unreadable(path: directory.path, reason: "cannot size an offload file to \(count) bytes: \(String(cString: strerror(errno)))")
        }
        #if canImport(Glibc)
        // Reserve the blocks now: writing through the mapping to a file the disk cannot hold would be a SIGBUS.
        let reserved = posix_fallocate(fd, 0, off_t(count))
        guard reserved == 0 else {
            throw FormatError.unreadable(path: directory.path, reason: "cannot reserve \(count) bytes for an offload file: \(String(cString: strerror(reserved)))")
        }
        #endif
        let mapped = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw FormatError.unreadable(path: directory.path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        do {
            try fill(UnsafeMutableRawBufferPointer(start: mapped, count: count))
        } catch {
            munmap(mapped, count)
            throw error
        }
        // Written once; read-only from here on, like a checkpoint's mapping. The written pages stay in the file
        // (the page cache) and leave this process until a layer reads them.
        mprotect(mapped, count, PROT_READ)
        _ = madvise(mapped, count, Int32(MADV_DONTNEED))
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// The mapped bytes.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Bytes of this mapping currently resident in RAM (`mincore`), for honest memory reports.
    public func residentBytes() -> Int {
        guard let base, count > 0 else { return 0 }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = (count + page - 1) / page
        #if canImport(Glibc)
        var vector = [UInt8](repeating: 0, count: pages)
        #else
        var vector = [CChar](repeating: 0, count: pages)
        #endif
        guard mincore(UnsafeMutableRawPointer(mutating: base), count, &vector) == 0 else { return 0 }
        return vector.reduce(0) { $0 + (($1 & 1) != 0 ? page : 0) }
    }
}
