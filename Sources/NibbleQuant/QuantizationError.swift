/// Errors raised while validating a quantization config or reading quantized tensors.
public enum QuantizationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A config field holds an unusable value; `field` names it as written in JSON.
    case invalidField(field: String, message: String)
    /// A key that is not part of `BitsAndBytesConfig` (strict mode only).
    case unknownKeys([String])
    /// A quantized tensor is missing or malformed.
    case badTensor(name: String, message: String)

    public var description: String {
        switch self {
        case let .invalidField(field, message): return "quantization_config.\(field): \(message)"
        case let .unknownKeys(keys): return "quantization_config: unknown key(s) \(keys.joined(separator: ", "))"
        case let .badTensor(name, message): return "quantized tensor \(name): \(message)"
        }
    }
}
