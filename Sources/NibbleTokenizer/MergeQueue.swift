/// A binary min-heap of merge candidates, used by both BPE encoders to pop the best pair in O(log n).
///
/// Deliberately not generic: without whole-module optimization a generic heap in another file stays
/// unspecialized and dominates encoding time.
struct MergeQueue {
    /// Smaller keys pop first; callers pack priority in the high bits and position in the low bits.
    struct Entry {
        var key: UInt64
        var payload: Int32
    }

    private var storage: [Entry] = []

    mutating func reserveCapacity(_ n: Int) { storage.reserveCapacity(n) }

    mutating func push(key: UInt64, payload: Int32 = 0) {
        storage.append(Entry(key: key, payload: payload))
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard storage[child].key < storage[parent].key else { break }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let last = storage.popLast() else { return nil }
        guard !storage.isEmpty else { return last }
        let top = storage[0]
        storage[0] = last
        var parent = 0
        let count = storage.count
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var best = parent
            if left < count && storage[left].key < storage[best].key { best = left }
            if right < count && storage[right].key < storage[best].key { best = right }
            if best == parent { break }
            storage.swapAt(parent, best)
            parent = best
        }
        return top
    }

    /// Packs (priority, position) so that lower priority values pop first and ties go to the leftmost position.
    @inline(__always)
    static func key(priority: UInt32, position: Int) -> UInt64 {
        UInt64(priority) << 32 | UInt64(UInt32(truncatingIfNeeded: position))
    }

    /// A priority under which higher scores pop first (order-preserving map of the float's bits, inverted).
    @inline(__always)
    static func descending(_ score: Float) -> UInt32 {
        let bits = score.bitPattern
        let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return ~ascending
    }
}
