import NibbleKernels

/// Keys and values of every layer for one sequence.
///
/// The model writes a step's new keys and values with `store`, attends over them with `attend`, and commits the
/// step with `advance` once every layer ran, so a failed step leaves the cache as it was. Not thread-safe by
/// design: one engine loop owns a cache at a time.
public final class KVCache {
    /// Number of decoder layers.
    public let layerCount: Int
    /// Key/value width per position: `num_key_value_heads * head_dim`.
    public let kvDim: Int
    /// Maximum number of positions.
    public let capacity: Int
    /// Number of positions committed so far.
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

    /// Positions that can still be added.
    public var room: Int { capacity - count }

    /// Writes the keys and values `(rows, kvDim)` of positions `count ..< count + rows` of `layer`.
    public func store(layer: Int, keys newKeys: UnsafePointer<Float>, values newValues: UnsafePointer<Float>, rows: Int) {
        precondition(count + rows <= capacity, "KV cache overflow")
        keys[layer].withUnsafeMutableBufferPointer { $0.baseAddress!.advanced(by: count * kvDim).update(from: newKeys, count: rows * kvDim) }
        values[layer].withUnsafeMutableBufferPointer { $0.baseAddress!.advanced(by: count * kvDim).update(from: newValues, count: rows * kvDim) }
    }

    /// Causal attention of `rows` queries `(rows, heads·headDim)` at positions `count ..< count + rows` over the
    /// stored positions of `layer` (the new ones included), into `output` `(rows, heads·headDim)`.
    ///
    /// - Parameter window: when set, a query at position p sees only positions `p - window + 1 ... p`
    ///   (sliding-window attention).
    public func attend(layer: Int, queries: UnsafePointer<Float>, rows: Int, heads: Int, headDim: Int, window: Int? = nil,
                       output: UnsafeMutablePointer<Float>) {
        keys[layer].withUnsafeBufferPointer { k in
            values[layer].withUnsafeBufferPointer { v in
                causalAttention(queries: queries, keys: k.baseAddress!, values: v.baseAddress!, rows: rows, start: count,
                                heads: heads, kvHeads: kvDim / headDim, headDim: headDim, window: window, output: output)
            }
        }
    }

    /// Commits `rows` stored positions.
    public func advance(by rows: Int) {
        precondition(count + rows <= capacity)
        count += rows
    }

    /// Forgets every position (the buffers are kept for reuse).
    public func reset() { count = 0 }

    /// Drops positions from `newCount` on, so a shared prompt prefix can be reused.
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count)
        count = newCount
    }
}
