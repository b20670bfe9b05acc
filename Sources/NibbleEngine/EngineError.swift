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
    /// The sequence (prompt plus `max_tokens`, within the context) needs more KV cache than the whole pool holds,
    /// so it could never run.
    case exceedsKVCache(tokens: Int, poolTokens: Int, poolBytes: Int)
    /// A setting of the engine has a value it cannot use (`name` as configured).
    case invalidSetting(String, String)

    public var description: String {
        switch self {
        case .queueFull(let seconds): return "the server is busy (queue full); retry after \(seconds) s"
        case .modelNotFound(let name): return "model '\(name)' not found"
        case .modelLoading(let name, let fraction):
            return "model '\(name)' is loading (\(Int((fraction * 100).rounded()))%)"
        case .modelFailed(let name, let reason): return "model '\(name)' failed to load: \(reason)"
        case .shuttingDown: return "the server is shutting down"
        case .exceedsKVCache(let tokens, let poolTokens, let poolBytes):
            return "the prompt plus max_tokens needs \(tokens) positions of KV cache; the pool (kv_cache_memory, "
                + "\(poolBytes) bytes) holds \(poolTokens)"
        case .invalidSetting(let name, let reason): return "\(name): \(reason)"
        }
    }
}
