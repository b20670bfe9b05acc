import Foundation

/// Why a tokenizer could not be loaded. Every case names the file involved so the message is actionable.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No usable tokenizer file in the directory (or the forced one is absent).
    case missingFile(String)
    /// A file exists but could not be read.
    case unreadableFile(String, reason: String)
    /// A JSON file is not valid JSON or does not have the expected shape.
    case invalidJSON(String, reason: String)
    /// The model type (`"Unigram"`, `"WordPiece"`, SentencePiece `WORD`…) is not implemented.
    case unsupportedModel(String, type: String)
    /// A normalizer, pre-tokenizer, decoder or post-processor type is not implemented.
    case unsupportedComponent(String, component: String, type: String)
    /// A SentencePiece protobuf ends in the middle of a field or has an impossible wire type.
    case malformedProtobuf(String, reason: String)
    /// The vocabulary is inconsistent (duplicate ids, missing unknown token, empty).
    case invalidVocabulary(String, reason: String)

    /// A one-line message naming the file and the problem.
    public var description: String {
        switch self {
        case .missingFile(let file):
            return "tokenizer: missing file \(file)"
        case .unreadableFile(let file, let reason):
            return "tokenizer: cannot read \(file): \(reason)"
        case .invalidJSON(let file, let reason):
            return "tokenizer: invalid JSON in \(file): \(reason)"
        case .unsupportedModel(let file, let type):
            return "tokenizer: unsupported model type '\(type)' in \(file)"
        case .unsupportedComponent(let file, let component, let type):
            return "tokenizer: unsupported \(component) type '\(type)' in \(file)"
        case .malformedProtobuf(let file, let reason):
            return "tokenizer: malformed protobuf in \(file): \(reason)"
        case .invalidVocabulary(let file, let reason):
            return "tokenizer: invalid vocabulary in \(file): \(reason)"
        }
    }
}

extension TokenizerError {
    /// The file is well-formed but uses something this implementation does not handle.
    var isUnsupportedFeature: Bool {
        switch self {
        case .unsupportedModel, .unsupportedComponent: return true
        default: return false
        }
    }
}
