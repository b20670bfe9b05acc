/// A consistent snapshot of the scheduler's counters, for `/metrics` and `/memory`.
public struct EngineStats: Sendable, Equatable {
    /// Requests waiting for a slot.
    public var queued = 0
    /// Requests generating now.
    public var active = 0
    /// Slot and queue limits.
    public var maxConcurrent = 0
    public var maxQueued = 0

    /// Requests accepted since start.
    public var accepted = 0
    /// Requests refused because the queue was full.
    public var rejected = 0
    /// Finished requests by outcome.
    public var completed = 0
    public var cancelled = 0
    public var failed = 0

    /// Tokens run through prefill, and tokens generated, since start.
    public var promptTokens = 0
    public var generatedTokens = 0
    /// Wall time spent in prefill and in decoding, since start (seconds).
    public var promptSeconds = 0.0
    public var decodeSeconds = 0.0

    /// Requests generating now.
    public var activeRequests: [ActiveRequest] = []
    /// Each model's KV block pool (once its engine started).
    public var kvPools: [KVPoolStats] = []

    /// KV cache bytes held by running requests.
    public var kvCacheBytesInUse: Int { activeRequests.reduce(0) { $0 + $1.kvCacheBytes } }

    /// Generated tokens per second of decoding, over the server's life.
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0 }

    public init() {}
}

/// One running generation.
public struct ActiveRequest: Sendable, Equatable {
    public var id: Int
    public var model: String
    public var label: String
    public var promptTokens: Int
    public var generatedTokens: Int
    /// Bytes of this request's KV cache.
    public var kvCacheBytes: Int
    /// Seconds since 1970 when the request started generating.
    public var startedAt: Double
}

/// How many generations run at once and how many may wait.
public struct SchedulerLimits: Sendable, Equatable {
    /// Sequences running at the same time (in shared batched steps).
    public var maxConcurrent: Int
    /// Requests allowed to wait for a slot; one more is refused with `.queueFull`.
    public var maxQueued: Int
    /// Suggested client back-off when the queue is full (`Retry-After`).
    public var retryAfterSeconds: Int
    /// Tokens one engine step may run in all (decoding tokens plus prefill chunks; `max_batch_tokens`).
    public var maxBatchTokens: Int
    /// Size, element type and prefix reuse of each model's KV block pool.
    public var kvCache: KVCacheSettings

    public init(maxConcurrent: Int = 8, maxQueued: Int = 16, retryAfterSeconds: Int = 1, maxBatchTokens: Int = 512,
                kvCache: KVCacheSettings = KVCacheSettings()) {
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxQueued = max(0, maxQueued)
        self.retryAfterSeconds = max(1, retryAfterSeconds)
        self.maxBatchTokens = max(1, maxBatchTokens)
        self.kvCache = kvCache
    }
}
