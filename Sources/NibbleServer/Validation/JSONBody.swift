import Foundation
import Hummingbird
import NIOCore

/// Reads a request body within the size limit and decodes it, turning every failure into an `APIError`
/// that names the offending field.
enum JSONBody {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws(APIError) -> T {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw .bodyTooLarge(limit: limit)
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw .bodyTooLarge(limit: limit)
        } catch {
            throw .malformedJSON("could not read the body (\(error))")
        }
        return try decode(type, from: Data(buffer.readableBytesView))
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(APIError) -> T {
        guard !data.isEmpty else { throw .malformedJSON("the body is empty; send a JSON object") }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw map(error)
        } catch {
            throw .malformedJSON("\(error)")
        }
    }

    /// Decoding errors with a key path name the parameter; errors at the root mean the JSON itself is bad.
    static func map(_ error: DecodingError) -> APIError {
        switch error {
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
                return .malformedJSON(underlying ?? context.debugDescription)
            }
            return .invalidParameter(name: name(context.codingPath), reason: context.debugDescription)
        case .typeMismatch(let expected, let context):
            if context.codingPath.isEmpty { return .malformedJSON("expected a JSON object") }
            return .invalidParameter(name: name(context.codingPath), reason: "expected \(describe(expected))")
        case .valueNotFound(let expected, let context):
            return .invalidParameter(name: name(context.codingPath), reason: "must be \(describe(expected)), not null")
        case .keyNotFound(let key, let context):
            return .invalidParameter(name: name(context.codingPath + [key]), reason: "is required")
        @unknown default:
            return .malformedJSON("\(error)")
        }
    }

    /// `messages[0].content`, `stop[1]`.
    static func name(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let index = key.intValue { out += "[\(index)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a valid value"
        }
    }
}
