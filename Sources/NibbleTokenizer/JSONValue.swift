import Foundation

/// A parsed JSON value for the small, loosely typed parts of tokenizer files (normalizers, decoders, configs).
///
/// The large parts (vocabulary, merges) are decoded into concrete types instead, which is much faster.
enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let dict) = self { return dict[key] }
        return nil
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    var int: Int? {
        if case .number(let value) = self, value.rounded() == value, abs(value) < 1e15 { return Int(value) }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// `"type"` of a component object.
    var typeName: String? { self["type"]?.string }

    /// A token given either as a plain string or as an object with `content` (tokenizer_config style).
    var tokenContent: String? {
        if let s = string { return s }
        return self["content"]?.string
    }
}

/// Decodes a JSON file into `T`, mapping every failure to `TokenizerError` with the file name.
func decodeJSONFile<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let error as TokenizerError {
        throw error
    } catch let error as DecodingError {
        throw TokenizerError.invalidJSON(file, reason: describe(error))
    } catch {
        throw TokenizerError.invalidJSON(file, reason: "\(error)")
    }
}

/// Reads a file, mapping failures to `TokenizerError`.
func readFile(_ url: URL) throws -> Data {
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw TokenizerError.missingFile(url.path)
    }
    do {
        return try Data(contentsOf: url)
    } catch {
        throw TokenizerError.unreadableFile(url.path, reason: "\(error.localizedDescription)")
    }
}

private func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
        return keys.isEmpty ? "" : " at " + keys.joined(separator: ".")
    }
    switch error {
    case .dataCorrupted(let context):
        return "data corrupted\(path(context)): \(context.debugDescription)"
    case .keyNotFound(let key, let context):
        return "missing key '\(key.stringValue)'\(path(context))"
    case .typeMismatch(_, let context):
        return "unexpected type\(path(context)): \(context.debugDescription)"
    case .valueNotFound(_, let context):
        return "missing value\(path(context))"
    @unknown default:
        return "\(error)"
    }
}
