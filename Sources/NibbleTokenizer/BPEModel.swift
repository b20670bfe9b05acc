/// The tokenizers-library BPE model: characters → ids, then merges applied in rank order.
struct BPEModel: Sendable {
    struct Merge: Sendable {
        var rank: Int32
        var newId: Int32
    }

    let vocab: [String: Int]
    /// Key: `left << 32 | right` ids.
    let merges: [UInt64: Merge]
    let unkId: Int?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let continuingSubwordPrefix: String
    let endOfWordSuffix: String
    /// Id of `<0xNN>` for every byte, when all 256 exist.
    let byteIds: [Int]?
    /// Single-character vocabulary entries, so the per-character lookup needs no String allocation.
    let scalarIds: [Unicode.Scalar: Int]

    init(vocab: [String: Int], merges: [(String, String)], unkToken: String?, fuseUnk: Bool, byteFallback: Bool,
         ignoreMerges: Bool, continuingSubwordPrefix: String?, endOfWordSuffix: String?) {
        self.vocab = vocab
        var table: [UInt64: Merge] = [:]
        table.reserveCapacity(merges.count)
        let prefix = continuingSubwordPrefix ?? ""
        for (rank, pair) in merges.enumerated() {
            guard let a = vocab[pair.0], let b = vocab[pair.1] else { continue }
            // With a continuing prefix, the merged token drops the right part's prefix.
            let right = !prefix.isEmpty && pair.1.hasPrefix(prefix) ? String(pair.1.dropFirst(prefix.count)) : pair.1
            guard let merged = vocab[pair.0 + right] else { continue }
            let key = Self.key(a, b)
            if table[key] == nil { table[key] = Merge(rank: Int32(rank), newId: Int32(merged)) }
        }
        self.merges = table
        self.unkId = unkToken.flatMap { vocab[$0] }
        self.fuseUnk = fuseUnk
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        self.continuingSubwordPrefix = prefix
        self.endOfWordSuffix = endOfWordSuffix ?? ""
        var bytes: [Int] = []
        for b in 0...255 {
            guard let id = vocab[ByteTokens.name(UInt8(b))] else { break }
            bytes.append(id)
        }
        self.byteIds = bytes.count == 256 ? bytes : nil
        var scalars: [Unicode.Scalar: Int] = [:]
        for (token, id) in vocab {
            var it = token.unicodeScalars.makeIterator()
            if let first = it.next(), it.next() == nil { scalars[first] = id }
        }
        self.scalarIds = scalars
    }

    @inline(__always)
    static func key(_ a: Int, _ b: Int) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: a)) << 32 | UInt64(UInt32(truncatingIfNeeded: b)) }

    /// Encodes one pre-tokenized word.
    func encode(word: String) -> [Int] {
        if word.isEmpty { return [] }
        if ignoreMerges, let id = vocab[word] { return [id] }

        var ids = initialSymbols(word)
        if ids.count < 2 { return ids }
        applyMerges(&ids)
        return ids
    }

    /// One symbol per Unicode scalar; unknown scalars become byte tokens or (fused) unknown tokens.
    private func initialSymbols(_ word: String) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(word.unicodeScalars.count)
        var lastWasUnk = false
        let scalars = Array(word.unicodeScalars)
        let plain = continuingSubwordPrefix.isEmpty && endOfWordSuffix.isEmpty
        for (index, scalar) in scalars.enumerated() {
            if plain, let id = scalarIds[scalar] {
                ids.append(id)
                lastWasUnk = false
                continue
            }
            var piece = String(scalar)
            if index > 0 && !continuingSubwordPrefix.isEmpty { piece = continuingSubwordPrefix + piece }
            if index == scalars.count - 1 && !endOfWordSuffix.isEmpty { piece += endOfWordSuffix }
            if let id = vocab[piece] {
                ids.append(id)
                lastWasUnk = false
                continue
            }
            if byteFallback, let byteIds {
                for byte in String(scalar).utf8 { ids.append(byteIds[Int(byte)]) }
                lastWasUnk = false
                continue
            }
            guard let unkId else { continue }
            if fuseUnk && lastWasUnk { continue }
            ids.append(unkId)
            lastWasUnk = true
        }
        return ids
    }

    /// Lowest-rank pair first (leftmost on ties), on a doubly linked list of symbols: O(n log n) per word.
    private func applyMerges(_ ids: inout [Int]) {
        let n = ids.count
        var next = Array(1...n)
        next[n - 1] = -1
        var prev = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeQueue()
        heap.reserveCapacity(n)
        for i in 0..<(n - 1) {
            if let merge = merges[Self.key(ids[i], ids[i + 1])] {
                heap.push(key: MergeQueue.key(priority: UInt32(merge.rank), position: i))
            }
        }
        while let top = heap.pop() {
            let pos = Int(UInt32(truncatingIfNeeded: top.key))
            let rank = Int32(top.key >> 32)
            guard alive[pos] else { continue }
            let right = next[pos]
            guard right >= 0, let merge = merges[Self.key(ids[pos], ids[right])], merge.rank == rank else {
                continue
            }
            ids[pos] = Int(merge.newId)
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { prev[next[right]] = pos }
            if prev[pos] >= 0, let m = merges[Self.key(ids[prev[pos]], ids[pos])] {
                heap.push(key: MergeQueue.key(priority: UInt32(m.rank), position: prev[pos]))
            }
            if next[pos] >= 0, let m = merges[Self.key(ids[pos], ids[next[pos]])] {
                heap.push(key: MergeQueue.key(priority: UInt32(m.rank), position: pos))
            }
        }
        var out: [Int] = []
        out.reserveCapacity(n)
        var i = 0
        while i >= 0 {
            out.append(ids[i])
            i = next[i]
        }
        ids = out
    }
}
