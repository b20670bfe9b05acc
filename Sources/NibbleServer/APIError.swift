import Foundation
import HTTPTypes
import Hummingbird
import NibbleEngine
import NibbleGeneration

/// Every way a request can fail, mapped to an HTTP status and the llama.cpp/OpenAI error envelope in one place.
///
/// Envelope: `{"error":{"code":<status>,"message":"…","type":"…"}}` (plus `param` for a bad parameter).
public enum APIError: Error, Equatable, CustomStringConvertible {
    /// The body is not JSON, or not the expected shape.
    case malformedJSON(String)
    /// A parameter has a bad type or value; `name` is its wire name.
    case invalidParameter(name: String, reason: String)
    /// The request names a model that is not served.
    case modelNotFound(String)
    /// The prompt leaves no room to generate.
    case contextExceeded(promptTokens: Int, contextLength: Int)
    /// The body is larger than the configured limit.
    case bodyTooLarge(limit: Int)
    /// The body did not arrive in full within the configured time.
    case requestTimeout(seconds: Double)
    /// Every slot is busy and the queue is full.
    case queueFull(retryAfterSeconds: Int)
    /// The API key is missing or not one of the configured keys.
    case unauthorized(String)
    /// The `Host` or `Origin` of the request is not allowed.
    case forbidden(String)
    /// The body is not `application/json`.
    case unsupportedMediaType(String)
    /// Models are still loading.
    case loading(progress: Double)
    /// The model exists but cannot serve (it failed to load, or the server is stopping).
    case unavailable(String)
    /// No such route.
    case routeNotFound(String)
    /// The route exists for other methods (listed in `Allow`).
    case methodNotAllowed(allowed: [String])
    /// A bug or a model failure.
    case internalError(String)

    public var status: HTTPResponse.Status {
        switch self {
        case .malformedJSON, .invalidParameter, .contextExceeded: return .badRequest
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .unsupportedMediaType: return .unsupportedMediaType
        case .modelNotFound, .routeNotFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .bodyTooLarge: return .contentTooLarge
        case .requestTimeout: return .requestTimeout
        case .queueFull: return .tooManyRequests
        case .loading, .unavailable: return .serviceUnavailable
        case .internalError: return .internalServerError
        }
    }

    /// The `type` field, with llama.cpp's names where it has one.
    public var type: String {
        switch self {
        case .malformedJSON, .invalidParameter, .bodyTooLarge, .requestTimeout, .methodNotAllowed, .unsupportedMediaType:
            return "invalid_request_error"
        case .forbidden: return "permission_error"
        case .contextExceeded: return "exceed_context_size_error"
        case .unauthorized: return "authentication_error"
        case .modelNotFound, .routeNotFound: return "not_found_error"
        case .queueFull: return "rate_limit_error"
        case .loading, .unavailable: return "unavailable_error"
        case .internalError: return "server_error"
        }
    }

    public var description: String {
        switch self {
        case .malformedJSON(let detail): return "Malformed JSON body: \(detail)"
        case .invalidParameter(let name, let reason): return "Invalid parameter '\(name)': \(reason)"
        case .modelNotFound(let name): return "The model '\(name)' does not exist"
        case .contextExceeded(let promptTokens, let contextLength):
            return "The prompt has \(promptTokens) tokens, which leaves no room to generate in the model's context of \(contextLength) tokens"
        case .bodyTooLarge(let limit): return "Request body exceeds the limit of \(limit) bytes"
        case .requestTimeout(let seconds):
            return "The request body did not arrive within \(seconds.formatted(.number.precision(.fractionLength(0...1)))) s"
        case .queueFull(let seconds): return "The server is busy; retry after \(seconds) s"
        case .unauthorized(let reason), .forbidden(let reason): return reason
        case .unsupportedMediaType(let given):
            return "Content-Type must be application/json" + (given.isEmpty ? " (none was sent)" : ", not '\(given)'")
        case .loading: return "Loading model"
        case .unavailable(let reason): return reason
        case .routeNotFound(let path): return "File Not Found: \(path)"
        case .methodNotAllowed(let allowed): return "Method not allowed; this route takes \(allowed.joined(separator: ", "))"
        case .internalError(let detail): return detail
        }
    }

    /// The wire envelope.
    var envelope: ErrorEnvelope {
        var body = ErrorEnvelope.Body(code: Int(status.code), message: description, type: type)
        if case .invalidParameter(let name, _) = self { body.param = name }
        if case .contextExceeded(let promptTokens, let contextLength) = self {
            body.promptTokens = promptTokens
            body.contextLength = contextLength
        }
        var envelope = ErrorEnvelope(error: body)
        if case .loading(let progress) = self { envelope.progress = progress }
        return envelope
    }

    /// The full HTTP response.
    var response: Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if case .queueFull(let seconds) = self { headers[.retryAfter] = String(seconds) }
        if case .unauthorized = self { headers[.wwwAuthenticate] = "Bearer" }
        if case .methodNotAllowed(let allowed) = self, !allowed.isEmpty { headers[.allow] = allowed.joined(separator: ", ") }
        let data = (try? JSONEncoder.wire.encode(envelope)) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Maps engine and generation errors, and anything else, into the one enum.
    init(_ error: any Error) {
        switch error {
        case let error as APIError: self = error
        case let error as EngineError:
            switch error {
            case .queueFull(let seconds): self = .queueFull(retryAfterSeconds: seconds)
            case .modelNotFound(let name): self = .modelNotFound(name)
            case .modelLoading(_, let fraction): self = .loading(progress: fraction)
            case .modelFailed, .shuttingDown: self = .unavailable(error.description)
            case .exceedsKVCache: self = .invalidParameter(name: "max_tokens", reason: error.description)
            case .invalidSetting: self = .internalError(error.description)
            }
        case let error as GenerationError:
            switch error {
            case .promptTooLong(let promptTokens, let contextLength):
                self = .contextExceeded(promptTokens: promptTokens, contextLength: contextLength)
            case .emptyPrompt: self = .invalidParameter(name: "prompt", reason: "must not be empty")
            case .invalidParameter(let invalid): self = .invalidParameter(name: invalid.name, reason: invalid.reason)
            case .noFiniteLogits: self = .internalError(error.description)
            case .everyTokenBanned: self = .invalidParameter(name: "logit_bias", reason: error.description)
            }
        case let error as InvalidParameter: self = .invalidParameter(name: error.name, reason: error.reason)
        case let error as HTTPError:
            switch error.status {
            case .notFound: self = .routeNotFound("")
            case .methodNotAllowed: self = .methodNotAllowed(allowed: [])
            case .contentTooLarge: self = .bodyTooLarge(limit: 0)
            default:
                self = error.status.code < 500
                    ? .invalidParameter(name: "request", reason: error.body ?? error.status.reasonPhrase)
                    : .internalError(error.body ?? error.status.reasonPhrase)
            }
        default: self = .internalError("\(error)")
        }
    }
}

/// `{"error":{…}}`, with loading progress on `/health`.
struct ErrorEnvelope: Codable, Equatable {
    struct Body: Codable, Equatable {
        var code: Int
        var message: String
        var type: String
        var param: String?
        /// llama.cpp's context-overflow details, so clients can shorten the prompt by the right amount.
        var promptTokens: Int?
        var contextLength: Int?

        enum CodingKeys: String, CodingKey {
            case code, message, type, param, promptTokens = "n_prompt_tokens", contextLength = "n_ctx"
        }
    }

    var error: Body
    var progress: Double?
}

extension JSONEncoder {
    /// Encoder for response bodies: stable key order, no escaped slashes.
    static var wire: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
