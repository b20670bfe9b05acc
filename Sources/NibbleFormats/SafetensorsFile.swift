import Foundation

/// One `.safetensors` file, memory-mapped and validated strictly before any tensor is handed out.
///
/// Layout: 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}`), then the data area.
public final class SafetensorsFile: Sendable {
    /// Largest header accepted; the reference implementation refuses anything over 100 MB as well.
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    public let file: MappedFile
    /// Tensors by name.
    public let tensors: [String: TensorView]
    /// Free-form `__metadata__` strings.
    public let metadata: [String: String]

    /// Names in file order (by data offset).
    public var tensorNames: [String] {
        tensors.values.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }.map(\.name)
    }

    /// Maps and validates the file at `path`.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        (tensors, metadata) = try Self.parse(file)
    }

    /// Looks up a tensor; the error names the file.
    public func tensor(_ name: String) throws -> TensorView {
        guard let view = tensors[name] else { throw FormatError.missingTensor(name: name, searched: path) }
        return view
    }

    private static func parse(_ file: MappedFile) throws -> ([String: TensorView], [String: String]) {
        let path = file.path
        func headerError(_ reason: String) -> FormatError { .invalidHeader(path: path, reason: reason) }
        let bytes = file.bytes
        guard bytes.count >= 8 else { throw headerError("file is \(bytes.count) bytes, shorter than the 8-byte length prefix") }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(maxHeaderBytes) else {
            throw headerError("header length \(headerLength) exceeds the \(maxHeaderBytes)-byte limit")
        }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw headerError("header length \(headerLength) runs past the end of the \(bytes.count)-byte file")
        }
        let headerEnd = 8 + Int(headerLength)
        let headerData = Data(bytes[8..<headerEnd])
        guard headerData.first == UInt8(ascii: "{") else { throw headerError("header does not start with '{'") }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: headerData)
        } catch {
            throw headerError("header is not valid JSON")
        }
        guard let root = object as? [String: Any] else { throw headerError("header is not a JSON object") }

        let dataLength = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var views: [String: TensorView] = [:]
        var ranges: [(Range<Int>, String)] = []
        for (name, value) in root {
            if name == "__metadata__" {
                guard let entries = value as? [String: Any] else { throw headerError("__metadata__ is not an object") }
                for (key, entry) in entries {
                    guard let text = entry as? String else { throw headerError("__metadata__['\(key)'] is not a string") }
                    metadata[key] = text
                }
                continue
            }
            func tensorError(_ reason: String) -> FormatError { .invalidTensor(path: path, tensor: name, reason: reason) }
            guard let info = value as? [String: Any] else { throw tensorError("entry is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw tensorError("missing dtype") }
            guard let dtype = DType(rawValue: dtypeName) else { throw tensorError("unsupported dtype '\(dtypeName)'") }
            guard let shapeValues = info["shape"] as? [Any] else { throw tensorError("missing shape") }
            var shape: [Int] = []
            for dimension in shapeValues {
                guard let number = dimension as? NSNumber, !isJSONBool(dimension), number.int64Value >= 0,
                      Double(number.int64Value) == number.doubleValue else {
                    throw tensorError("shape \(shapeValues) has a dimension that is not a non-negative integer")
                }
                shape.append(number.intValue)
            }
            guard let offsets = info["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = (offsets[0] as? NSNumber)?.int64Value, let end = (offsets[1] as? NSNumber)?.int64Value
            else { throw tensorError("data_offsets must be [begin, end]") }
            guard begin >= 0, end >= begin else { throw tensorError("data_offsets [\(begin), \(end)] are reversed or negative") }
            guard end <= Int64(dataLength) else {
                throw tensorError("data_offsets [\(begin), \(end)] run past the data area (\(dataLength) bytes)")
            }
            var elements = 1
            for dimension in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw tensorError("shape \(shape) overflows") }
                elements = product
            }
            let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, Int64(expected) == end - begin else {
                throw tensorError("shape \(shape) × \(dtypeName) needs \(expected) bytes but data_offsets span \(end - begin)")
            }
            let range = (headerEnd + Int(begin))..<(headerEnd + Int(end))
            ranges.append((range, name))
            views[name] = TensorView(name: name, dtype: dtype, shape: shape, file: file, byteRange: range)
        }
        ranges.sort { ($0.0.lowerBound, $0.0.upperBound) < ($1.0.lowerBound, $1.0.upperBound) }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.0.lowerBound < previous.0.upperBound && !next.0.isEmpty {
            throw FormatError.invalidTensor(path: path, tensor: next.1, reason: "data overlaps tensor '\(previous.1)'")
        }
        return (views, metadata)
    }
}
