/// Why a model file could not be read. Every case names the file (and tensor) involved.
public enum FormatError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case invalidHeader(path: String, reason: String)
    case invalidTensor(path: String, tensor: String, reason: String)
    case missingTensor(name: String, searched: String)
    case invalidConfig(path: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "\(path): file not found"
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .invalidHeader(let path, let reason): return "\(path): invalid safetensors header: \(reason)"
        case .invalidTensor(let path, let tensor, let reason): return "\(path): tensor '\(tensor)': \(reason)"
        case .missingTensor(let name, let searched): return "tensor '\(name)' not found in \(searched)"
        case .invalidConfig(let path, let reason): return "\(path): \(reason)"
        }
    }
}
