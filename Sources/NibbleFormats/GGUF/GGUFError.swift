/// Why a GGUF file could not be read. Every case names the file and the key or tensor involved.
public enum GGUFError: Error, CustomStringConvertible, Equatable {
    /// The fixed header (magic, version, counts) is wrong.
    case invalidHeader(path: String, reason: String)
    /// A metadata entry is malformed, missing or of the wrong type.
    case invalidMetadata(path: String, key: String, reason: String)
    /// A tensor description or its data is inconsistent.
    case invalidTensor(path: String, tensor: String, reason: String)
    /// The file is well formed but describes something Nibble does not load.
    case unsupported(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidHeader(let path, let reason): return "\(path): invalid GGUF header: \(reason)"
        case .invalidMetadata(let path, let key, let reason): return "\(path): GGUF metadata '\(key)': \(reason)"
        case .invalidTensor(let path, let tensor, let reason): return "\(path): GGUF tensor '\(tensor)': \(reason)"
        case .unsupported(let path, let reason): return "\(path): \(reason)"
        }
    }
}
