import Foundation

/// One tensor to be written: name, dtype, shape and its raw little-endian bytes.
public struct TensorRecord: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }
}

/// Writes `.safetensors` files in the layout the reference library produces (header padded with spaces to a
/// multiple of 8 bytes, tensors in header order).
public enum SafetensorsWriter {
    /// The order tensors are laid out in.
    public enum Ordering: Sendable {
        /// By name.
        case byName
        /// As the safetensors library lays out a torch state dict (`save_file`, `save_pretrained`): widest dtype
        /// first in its dtype enumeration order, then by name, so every tensor stays aligned.
        case byDTypeThenName
    }

    /// Rank in the safetensors library's dtype enumeration (BOOL, U8, I8, I16, F16, BF16, I32, F32, F64, I64).
    static func libraryRank(_ dtype: DType) -> Int {
        switch dtype {
        case .bool: return 0
        case .u8: return 1
        case .i8: return 2
        case .i16: return 3
        case .f16: return 4
        case .bf16: return 5
        case .i32: return 6
        case .f32: return 7
        case .f64: return 8
        case .i64: return 9
        }
    }

    static func ordered(_ tensors: [TensorRecord], _ ordering: Ordering) -> [TensorRecord] {
        switch ordering {
        case .byName: return tensors.sorted { $0.name < $1.name }
        case .byDTypeThenName:
            return tensors.sorted {
                let (a, b) = (libraryRank($0.dtype), libraryRank($1.dtype))
                return a != b ? a > b : $0.name < $1.name
            }
        }
    }

    /// Serializes tensors and metadata into file bytes.
    public static func serialize(_ tensors: [TensorRecord], metadata: [String: String] = [:],
                                 ordering: Ordering = .byName) throws -> Data {
        let (headerBytes, sorted, dataBytes) = try header(tensors, metadata: metadata, ordering: ordering)
        var out = Data()
        out.reserveCapacity(8 + headerBytes.count + dataBytes)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for tensor in sorted { out.append(contentsOf: tensor.bytes) }
        return out
    }

    /// Writes a file tensor by tensor (no whole-file copy in memory), atomically: a temporary file renamed into place.
    public static func write(_ tensors: [TensorRecord], metadata: [String: String] = [:], ordering: Ordering,
                             to url: URL) throws {
        let (headerBytes, sorted, _) = try header(tensors, metadata: metadata, ordering: ordering)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw FormatError.unreadable(path: temporary.path, reason: "cannot create the file")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            var prefix = Data()
            withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { prefix.append(contentsOf: $0) }
            prefix.append(contentsOf: headerBytes)
            try handle.write(contentsOf: prefix)
            for tensor in sorted { try handle.write(contentsOf: tensor.bytes) }
            try handle.synchronize()
        }
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        try FileManager.default.moveItem(at: temporary, to: url)
    }

    /// The padded header bytes, the tensors in layout order and the data size.
    static func header(_ tensors: [TensorRecord], metadata: [String: String],
                       ordering: Ordering) throws -> ([UInt8], [TensorRecord], Int) {
        let sorted = ordered(tensors, ordering)
        var header = "{"
        var entries: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in sorted {
            let expected = tensor.shape.reduce(1, *) * tensor.dtype.size
            guard expected == tensor.bytes.count else {
                throw FormatError.invalidTensor(path: "<writer>", tensor: tensor.name,
                                                reason: "shape \(tensor.shape) × \(tensor.dtype.rawValue) needs \(expected) bytes, got \(tensor.bytes.count)")
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + expected)]}")
            offset += expected
        }
        header += entries.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
        return (headerBytes, sorted, offset)
    }

    /// Writes a file atomically.
    public static func write(_ tensors: [TensorRecord], metadata: [String: String] = [:], to url: URL) throws {
        try serialize(tensors, metadata: metadata).write(to: url, options: .atomic)
    }

    private static func jsonString(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }
}
