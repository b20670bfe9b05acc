import Foundation
import Hummingbird
import NIOCore

/// How much request body a handler accepts, and how long it waits for it.
struct BodyLimits: Sendable {
    /// 413 above this many bytes.
    var maxBytes: Int
    /// 408 when the body has not arrived in full by then.
    var timeout: Duration
}

/// Reads a request body within the size and time limits and decodes it, turning every failure into an
/// `APIError` that names the offending field.
enum JSONBody {
    /// Reads the body and puts the bytes back into `request`, so whatever handles the request next can read it again.
    static func decode<T: Decodable>(_ type: T.Type, from request: inout Request, limits: BodyLimits) async throws(APIError) -> T {
        try requireJSONContentType(request)
        let limit = limits.maxBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw .bodyTooLarge(limit: limit)
        }
        let buffer: ByteBuffer
        do {
            let body = request.body
            buffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await body.collect(upTo: limit) }
                group.addTask {
                    try await Task.sleep(for: limits.timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let body = first else {
                    throw APIError.requestTimeout(seconds: limits.timeout.seconds)
                }
                return body
            }
        } catch let error as APIError {
            throw error
        } catch is NIOTooManyBytesError {
            throw .bodyTooLarge(limit: limit)
        } catch {
            throw .malformedJSON("could not read the body (\(error))")
        }
        request.body = RequestBody(buffer: buffer)
        return try decode(type, from: Data(buffer.readableBytesView))
    }

    /// Only `application/json` (with parameters such as `charset`) is read: a page of another origin can post
    /// `text/plain` or a form without asking the browser first, and such a body must not start a generation.
    static func requireJSONContentType(_ request: Request) throws(APIError) {
        let given = request.headers[.contentType] ?? ""
        let mediaType = given.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard mediaType == "application/json" else { throw .unsupportedMediaType(given) }
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(APIError) -> T {
        guard !data.isEmpty else { throw .malformedJSON("the body is empty; send a JSON object") }
        do {
            let value = try JSONDecoder().decode(T.self, from: data)
            if let key = unknownKey(T.self, in: data) {
                throw APIError.invalidParameter(name: key, reason: "is not supported by this server (fields it does not honour are refused, not ignored)")
            }
            return value
        } catch let error as APIError {
            throw error
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
               let key = keyHoldingUndecodableValue(type, in: data) {
                // Foundation reports a number that does not fit its field (2.5 or 1e30 for an integer) as
                // invalid JSON at the root; name the field instead.
                throw .invalidParameter(name: key, reason: "has a value of the wrong type or out of range (an integer is expected where the API takes one)")
            }
            throw map(error)
        } catch {
            throw .malformedJSON("\(error)")
        }
    }

    /// The top-level key whose value makes decoding fail, found by leaving keys out one at a time (error path only).
    static func keyHoldingUndecodableValue<T: Decodable>(_ type: T.Type, in data: Data) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        for key in object.keys.sorted() {
            var rest = object
            rest[key] = nil
            guard let trimmed = try? JSONSerialization.data(withJSONObject: rest) else { continue }
            do {
                _ = try JSONDecoder().decode(T.self, from: trimmed)
                return key
            } catch DecodingError.keyNotFound(let missing, let context) where context.codingPath.isEmpty && missing.stringValue == key {
                return key
            } catch {
                continue
            }
        }
        return nil
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

extension Duration {
    /// The duration in seconds, for messages.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
