/// Why the engine could not accept or run a request.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    /// Every slot is busy and the wait queue is full; try again after `retryAfterSeconds`.
    case queueFull(retryAfterSeconds: Int)
    /// No model is registered under this name.
    case modelNotFound(String)
    /// The model is still loading (`fraction` 0...1).
    case modelLoading(String, fraction: Double)
    /// The model failed to load.
    case modelFailed(String, reason: String)
    /// The engine is shutting down and accepts no more work.
    case shuttingDown

    public var description: String {
        switch self {
        case .queueFull(let seconds): return "the server is busy (queue full); retry after \(seconds) s"
        case .modelNotFound(let name): return "model '\(name)' not found"
        case .modelLoading(let name, let fraction):
            return "model '\(name)' is loading (\(Int((fraction * 100).rounded()))%)"
        case .modelFailed(let name, let reason): return "model '\(name)' failed to load: \(reason)"
        case .shuttingDown: return "the server is shutting down"
        }
    }
}
