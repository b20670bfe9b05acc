/// Keys and values of every layer for one sequence.
///
/// Not thread-safe by design: one generation loop owns a cache at a time.
public final class KVCache {
    /// Number of decoder layers.
    public let layerCount: Int
    /// Key/value width per position: `num_key_value_heads * head_dim`.
    public let kvDim: Int
    /// Maximum number of positions.
    public let capacity: Int
    /// Number of positions filled so far.
    public internal(set) var count: Int = 0

    /// Keys, one buffer per layer, each `(capacity, kvDim)` row-major.
    var keys: [[Float]]
    /// Values, one buffer per layer, each `(capacity, kvDim)` row-major.
    var values: [[Float]]

    /// Creates an empty cache.
    public init(layerCount: Int, kvDim: Int, capacity: Int) {
        self.layerCount = layerCount
        self.kvDim = kvDim
        self.capacity = capacity
        keys = Array(repeating: [Float](repeating: 0, count: capacity * kvDim), count: layerCount)
        values = keys
    }

    /// Bytes held by the cache buffers.
    public var allocatedBytes: Int { 2 * layerCount * capacity * kvDim * MemoryLayout<Float>.size }

    /// Forgets every position (the buffers are kept for reuse).
    public func reset() { count = 0 }

    /// Drops positions from `newCount` on, so a shared prompt prefix can be reused.
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count)
        count = newCount
    }
}
