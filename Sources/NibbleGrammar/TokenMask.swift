/// Allowed token ids as a bit set (bit `id % 64` of word `id / 64`).
public struct TokenMask: Equatable, Sendable {
    public internal(set) var words: [UInt64]
    public let size: Int

    init(size: Int) {
        self.size = size
        words = Array(repeating: 0, count: (size + 63) / 64)
    }

    @inline(__always) public func contains(_ id: Int) -> Bool {
        id >= 0 && id < size && words[id >> 6] >> UInt64(id & 63) & 1 != 0
    }

    @inline(__always) mutating func insert(_ id: Int) {
        words[id >> 6] |= 1 << UInt64(id & 63)
    }

    /// Number of allowed ids.
    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Sets every disallowed entry of a logits row to -infinity.
    public func apply(to logits: UnsafeMutableBufferPointer<Float>) {
        let n = min(logits.count, size)
        for w in 0..<words.count {
            let word = words[w]
            if word == ~0 { continue }
            let base = w << 6
            for bit in 0..<min(64, n - base) where word >> UInt64(bit) & 1 == 0 {
                logits[base + bit] = -.infinity
            }
        }
        // Ids beyond the vocabulary (padded logits rows) are never text.
        if logits.count > size {
            for i in size..<logits.count { logits[i] = -.infinity }
        }
    }
}
