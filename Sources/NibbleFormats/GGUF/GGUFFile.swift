import Foundation

/// A memory-mapped GGUF file (versions 2 and 3): metadata, tensor descriptions and views of the tensor data.
///
/// Everything in the header is checked before use: magic, version, counts against the bytes that could hold
/// them, string lengths, UTF-8, value types, duplicate keys and names, the alignment, and every tensor's
/// dimensions, type, block divisibility, offset alignment and extent. A malformed file is a `GGUFError`
/// naming the key or tensor, never a trap.
public final class GGUFFile: Sendable {
    /// Path the file was opened from.
    public let path: String
    /// Format version (2 or 3).
    public let version: Int
    /// Metadata entries by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment` (default 32).
    public let alignment: Int
    /// Offset of the data section in the file.
    public let dataOffset: Int
    /// Keeps the mapping alive.
    public let file: MappedFile
    private let index: [String: Int]

    /// Maps and parses a file.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Parses an already-mapped file.
    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        self.path = path
        var reader = GGUFByteReader(bytes: file.bytes, path: file.path)
        let header = try reader.header()
        version = header.version
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0..<header.metadataCount {
            let key = try reader.string(what: "metadata key #\(i)")
            let value = try reader.value(key: key)
            guard metadata[key] == nil else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "appears twice")
            }
            metadata[key] = value
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard case .uint32(let raw) = value, raw > 0, raw & (raw - 1) == 0 else {
                throw GGUFError.invalidMetadata(path: path, key: "general.alignment",
                                                reason: "must be a uint32 power of two, got \(value.type) \(value.summary)")
            }
            alignment = Int(raw)
        }
        self.alignment = alignment

        var raw: [(name: String, dimensions: [Int], type: GGMLType, offset: Int)] = []
        var index: [String: Int] = [:]
        for i in 0..<header.tensorCount {
            let info = try reader.tensorInfo(number: i)
            guard index[info.name] == nil else {
                throw GGUFError.invalidTensor(path: path, tensor: info.name, reason: "described twice")
            }
            index[info.name] = raw.count
            raw.append(info)
        }
        let dataOffset = (reader.position + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        let fileSize = file.count
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(raw.count)
        for info in raw {
            func fail(_ reason: String) -> GGUFError { .invalidTensor(path: file.path, tensor: info.name, reason: reason) }
            guard info.offset % alignment == 0 else {
                throw fail("offset \(info.offset) is not a multiple of the alignment \(alignment)")
            }
            guard info.dimensions[0] % info.type.blockSize == 0 else {
                throw fail("row length \(info.dimensions[0]) is not a multiple of the \(info.type) block size \(info.type.blockSize)")
            }
            let count = info.dimensions.reduce(1, *)  // bounded: each dimension and the product are checked when read
            let bytes = count / info.type.blockSize * info.type.blockBytes
            let (start, startOverflow) = dataOffset.addingReportingOverflow(info.offset)
            let (end, endOverflow) = start.addingReportingOverflow(bytes)
            guard !startOverflow, !endOverflow, end <= fileSize else {
                throw fail("data [\(info.offset), +\(bytes)) runs past the end of the file (data section at \(dataOffset), file \(fileSize) bytes)")
            }
            tensors.append(GGUFTensorInfo(name: info.name, dimensions: info.dimensions, type: info.type,
                                          offset: info.offset, byteRange: start..<end))
        }
        // Tensors may not share bytes: an overlap means a corrupt or hand-edited header.
        let sorted = tensors.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.byteRange.upperBound > b.byteRange.lowerBound {
            throw GGUFError.invalidTensor(path: path, tensor: b.name, reason: "its data overlaps tensor '\(a.name)'")
        }
        self.tensors = tensors
        self.index = index
    }

    /// A tensor's description, or nil.
    public func tensor(named name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    /// The raw bytes of a tensor, valid while this file is alive.
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[tensor.byteRange])
    }

    /// A tensor's values as float32, dequantized as gguf-py does.
    public func floats(of tensor: GGUFTensorInfo) -> [Float] {
        GGMLDequantizer.dequantize(bytes(of: tensor), type: tensor.type, count: tensor.elementCount)
    }

    // MARK: Typed metadata access

    /// The value of `key`, or nil when absent.
    public subscript(key: String) -> GGUFValue? { metadata[key] }

    /// A string entry; nil when absent, an error when present with another type.
    public func string(_ key: String) throws -> String? {
        guard let value = metadata[key] else { return nil }
        guard let string = value.string else { throw typeError(key, value, expected: "a string") }
        return string
    }

    /// An integer entry (any integer type); nil when absent.
    public func int(_ key: String) throws -> Int? {
        guard let value = metadata[key] else { return nil }
        guard let int = value.int else { throw typeError(key, value, expected: "an integer") }
        return int
    }

    /// A number entry (float or integer type); nil when absent.
    public func double(_ key: String) throws -> Double? {
        guard let value = metadata[key] else { return nil }
        guard let double = value.double else { throw typeError(key, value, expected: "a number") }
        return double
    }

    /// A bool entry; nil when absent.
    public func bool(_ key: String) throws -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard let bool = value.bool else { throw typeError(key, value, expected: "a bool") }
        return bool
    }

    /// An array of strings; nil when absent.
    public func strings(_ key: String) throws -> [String]? {
        guard let value = metadata[key] else { return nil }
        guard case .array(let type, let items) = value, type == .string || items.isEmpty else {
            throw typeError(key, value, expected: "an array of strings")
        }
        return items.map { $0.string ?? "" }
    }

    /// An array of integers (any integer element type); nil when absent.
    public func ints(_ key: String) throws -> [Int]? {
        guard let value = metadata[key] else { return nil }
        guard let items = value.array else { throw typeError(key, value, expected: "an array of integers") }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let i = item.int else { throw typeError(key, value, expected: "an array of integers") }
            out.append(i)
        }
        return out
    }

    /// An array of numbers (float or integer elements); nil when absent.
    public func doubles(_ key: String) throws -> [Double]? {
        guard let value = metadata[key] else { return nil }
        guard let items = value.array else { throw typeError(key, value, expected: "an array of numbers") }
        var out: [Double] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let d = item.double else { throw typeError(key, value, expected: "an array of numbers") }
            out.append(d)
        }
        return out
    }

    private func typeError(_ key: String, _ value: GGUFValue, expected: String) -> GGUFError {
        .invalidMetadata(path: path, key: key, reason: "expected \(expected), found \(value.type)")
    }
}

/// Bounds-checked little-endian reads over the header.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var position = 0
    /// Arrays nested deeper than this are refused (the format has no use for them; it bounds recursion).
    static let maximumArrayDepth = 2

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - position }

    mutating func header() throws -> (version: Int, tensorCount: Int, metadataCount: Int) {
        guard bytes.count >= 4, bytes[0] == 0x47, bytes[1] == 0x47, bytes[2] == 0x55, bytes[3] == 0x46 else {
            throw GGUFError.invalidHeader(path: path, reason: "missing the 'GGUF' magic (not a GGUF file)")
        }
        position = 4
        let version = try fixed(UInt32.self, what: "version")
        guard version == 2 || version == 3 else {
            throw GGUFError.invalidHeader(path: path, reason: "version \(version) is not supported (2 and 3 are)")
        }
        let tensorCount = try fixed(UInt64.self, what: "tensor count")
        let metadataCount = try fixed(UInt64.self, what: "metadata count")
        // Each tensor description takes at least 8 + 4 + 8 + 4 + 8 bytes, each metadata entry 8 + 4 + 1.
        guard tensorCount <= UInt64(remaining / 32) else {
            throw GGUFError.invalidHeader(path: path, reason: "tensor count \(tensorCount) cannot fit in \(bytes.count) bytes")
        }
        guard metadataCount <= UInt64(remaining / 13) else {
            throw GGUFError.invalidHeader(path: path, reason: "metadata count \(metadataCount) cannot fit in \(bytes.count) bytes")
        }
        return (Int(version), Int(tensorCount), Int(metadataCount))
    }

    mutating func fixed<T: FixedWidthInteger>(_ type: T.Type, what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else {
            throw GGUFError.invalidHeader(path: path, reason: "file ends inside \(what()) at byte \(position)")
        }
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += size
        return value
    }

    mutating func string(what: @autoclosure () -> String) throws -> String {
        let length = try fixed(UInt64.self, what: what() + " length")
        guard length <= UInt64(remaining) else {
            throw GGUFError.invalidHeader(path: path, reason: "\(what()) claims \(length) bytes, only \(remaining) remain")
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(length))])
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw GGUFError.invalidHeader(path: path, reason: "\(what()) at byte \(position) is not valid UTF-8")
        }
        position += Int(length)
        return string
    }

    mutating func value(key: String) throws -> GGUFValue {
        let code = try fixed(UInt32.self, what: "type of '\(key)'")
        guard let type = GGUFValueType(rawValue: code) else {
            throw GGUFError.invalidMetadata(path: path, key: key, reason: "unknown value type \(code)")
        }
        return try value(of: type, key: key, depth: 0)
    }

    private mutating func value(of type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        func what() -> String { "metadata '\(key)'" }
        switch type {
        case .uint8: return .uint8(try fixed(UInt8.self, what: what()))
        case .int8: return .int8(try fixed(Int8.self, what: what()))
        case .uint16: return .uint16(try fixed(UInt16.self, what: what()))
        case .int16: return .int16(try fixed(Int16.self, what: what()))
        case .uint32: return .uint32(try fixed(UInt32.self, what: what()))
        case .int32: return .int32(try fixed(Int32.self, what: what()))
        case .uint64: return .uint64(try fixed(UInt64.self, what: what()))
        case .int64: return .int64(try fixed(Int64.self, what: what()))
        case .float32: return .float32(Float(bitPattern: try fixed(UInt32.self, what: what())))
        case .float64: return .float64(Double(bitPattern: try fixed(UInt64.self, what: what())))
        case .bool:
            let raw = try fixed(UInt8.self, what: what())
            guard raw <= 1 else { throw GGUFError.invalidMetadata(path: path, key: key, reason: "bool byte \(raw) is neither 0 nor 1") }
            return .bool(raw == 1)
        case .string:
            return .string(try string(what: what()))
        case .array:
            let code = try fixed(UInt32.self, what: "element type of '\(key)'")
            guard let elementType = GGUFValueType(rawValue: code) else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "unknown array element type \(code)")
            }
            guard elementType != .array || depth + 1 < Self.maximumArrayDepth else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "arrays nested deeper than \(Self.maximumArrayDepth)")
            }
            let count = try fixed(UInt64.self, what: "length of '\(key)'")
            // Every element takes at least one byte (strings and arrays at least 8).
            let minimum = UInt64(elementType.fixedSize ?? 8)
            guard count <= UInt64(remaining) / minimum else {
                throw GGUFError.invalidMetadata(path: path, key: key,
                                                reason: "array of \(count) \(elementType) cannot fit in the \(remaining) bytes left")
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<Int(count) { items.append(try value(of: elementType, key: key, depth: depth + 1)) }
            return .array(elementType: elementType, items)
        }
    }

    mutating func tensorInfo(number: Int) throws -> (name: String, dimensions: [Int], type: GGMLType, offset: Int) {
        let name = try string(what: "name of tensor #\(number)")
        func fail(_ reason: String) -> GGUFError { .invalidTensor(path: path, tensor: name, reason: reason) }
        let rank = try fixed(UInt32.self, what: "rank of tensor '\(name)'")
        guard (1...4).contains(rank) else { throw fail("rank \(rank) is outside 1...4") }
        var dimensions: [Int] = []
        var count = 1
        for axis in 0..<Int(rank) {
            let d = try fixed(UInt64.self, what: "dimension \(axis) of tensor '\(name)'")
            // 2^40 elements is far beyond any file; the bound keeps products from overflowing.
            guard d >= 1, d <= 1 << 40 else { throw fail("dimension \(axis) is \(d)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= 1 << 40 else { throw fail("element count overflows") }
            count = product
            dimensions.append(Int(d))
        }
        let code = try fixed(UInt32.self, what: "type of tensor '\(name)'")
        guard let type = GGMLType(rawValue: code) else {
            let known = GGMLType.allCases.map(\.description).joined(separator: ", ")
            throw GGUFError.unsupported(path: path, reason: "tensor '\(name)' has type \(GGMLType.otherNames[code] ?? "#\(code)"), "
                                        + "which Nibble does not dequantize (supported: \(known))")
        }
        let offset = try fixed(UInt64.self, what: "offset of tensor '\(name)'")
        guard offset <= UInt64(bytes.count) else { throw fail("offset \(offset) lies beyond the file (\(bytes.count) bytes)") }
        return (name, dimensions, type, Int(offset))
    }
}
