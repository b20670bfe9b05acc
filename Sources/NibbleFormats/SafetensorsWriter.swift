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

/// Writes `.safetensors` files in the layout the reference library produces (tensors sorted by name,
/// header padded with spaces to a multiple of 8 bytes).
public enum SafetensorsWriter {
    /// Serializes tensors and metadata into file bytes.
    public static func serialize(_ tensors: [TensorRecord], metadata: [String: String] = [:]) throws -> Data {
        let sorted = tensors.sorted { $0.name < $1.name }
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
        var out = Data()
        out.reserveCapacity(8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for tensor in sorted { out.append(contentsOf: tensor.bytes) }
        return out
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
