/// Parse stacks as a shared tree: a stack is the id of its top node, each node holding a grammar position and
/// its parent. Nodes are hash-consed, so equal stacks have equal ids — sets of stacks compare as id lists, and a
/// step that rebuilds a stack someone else built costs a lookup, not a copy.
struct StackArena {
    /// Per node: grammar position (a byte-set element for a top, a return position below), parent (-1 = bottom),
    /// and depth (bottom node = 1).
    private(set) var position: [Int32] = []
    private(set) var parent: [Int32] = []
    private(set) var depth: [Int32] = []
    /// Open-addressing table from (position, parent) to node id; -1 marks an empty slot.
    private var keys: [UInt64]
    private var values: [Int32]
    private var mask: Int

    init() {
        keys = Array(repeating: 0, count: 1024)
        values = Array(repeating: -1, count: 1024)
        mask = 1023
    }

    var count: Int { position.count }

    @inline(__always) private static func hash(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 17)
    }

    /// The node for `position` on top of `parent`, made if new.
    @inline(__always) mutating func intern(_ pos: Int32, _ below: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: pos)) << 32 | UInt64(UInt32(bitPattern: below))
        var slot = Self.hash(key) & mask
        while true {
            let v = values[slot]
            if v < 0 { break }
            if keys[slot] == key { return v }
            slot = (slot + 1) & mask
        }
        let id = Int32(position.count)
        position.append(pos)
        parent.append(below)
        depth.append(below < 0 ? 1 : depth[Int(below)] + 1)
        keys[slot] = key
        values[slot] = id
        if position.count * 2 > keys.count { grow() }
        return id
    }

    private mutating func grow() {
        let capacity = keys.count * 2
        keys = Array(repeating: 0, count: capacity)
        values = Array(repeating: -1, count: capacity)
        mask = capacity - 1
        for id in 0..<position.count {
            let key = UInt64(UInt32(bitPattern: position[id])) << 32 | UInt64(UInt32(bitPattern: parent[id]))
            var slot = Self.hash(key) & mask
            while values[slot] >= 0 { slot = (slot + 1) & mask }
            keys[slot] = key
            values[slot] = Int32(id)
        }
    }

    /// A new arena holding only the stacks under `tops`, and their ids in it (same order).
    func compacted(keeping tops: [Int32]) -> (StackArena, [Int32]) {
        var fresh = StackArena()
        var remap: [Int32: Int32] = [:]
        func copy(_ node: Int32) -> Int32 {
            if node < 0 { return -1 }
            if let done = remap[node] { return done }
            // Walk down iteratively: stacks can be deep.
            var chain: [Int32] = []
            var n = node
            while n >= 0, remap[n] == nil { chain.append(n); n = parent[Int(n)] }
            var below = n < 0 ? -1 : remap[n]!  // n is either bottom or already copied
            for m in chain.reversed() {
                below = fresh.intern(position[Int(m)], below)
                remap[m] = below
            }
            return below
        }
        return (fresh, tops.map(copy))
    }
}
