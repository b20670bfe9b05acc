/// Why a model could not be loaded or run.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case emptyInput
    case contextOverflow(requested: Int, capacity: Int)
    case tokenOutOfRange(token: Int, vocabularySize: Int)
    case unsupportedArchitecture(String)
    case invalidWeight(name: String, reason: String)
    case invalidOptions(String)
    case invalidAdapter(path: String, reason: String)
    /// A chat template that cannot be read or parsed; `origin` is where it came from.
    case invalidChatTemplate(origin: String, reason: String)

    public var description: String {
        switch self {
        case .emptyInput: return "no tokens to run"
        case .contextOverflow(let requested, let capacity):
            return "sequence of \(requested) tokens exceeds the context of \(capacity)"
        case .tokenOutOfRange(let token, let vocabularySize):
            return "token id \(token) is outside the vocabulary (0..<\(vocabularySize))"
        case .unsupportedArchitecture(let name):
            return "unsupported model family '\(name)' (known: \(ModelFamilies.knownDescription))"
        case .invalidWeight(let name, let reason): return "weight '\(name)': \(reason)"
        case .invalidOptions(let reason): return reason
        case .invalidAdapter(let path, let reason): return "\(path): \(reason)"
        case .invalidChatTemplate(let origin, let reason): return "chat template from \(origin): \(reason)"
        }
    }
}
