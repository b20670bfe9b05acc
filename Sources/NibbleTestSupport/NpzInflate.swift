import Foundation

/// A small DEFLATE (RFC 1951) decoder: `np.savez_compressed` archives store their members deflated.
enum NpzInflate {
    struct BitReader {
        let bytes: [UInt8]
        var pos = 0, bit = 0
        mutating func bits(_ n: Int) throws -> Int {
            var v = 0
            for i in 0..<n {
                guard pos < bytes.count else { throw NpzError.corrupt("deflate stream ends early") }
                v |= Int((bytes[pos] >> UInt8(bit)) & 1) << i
                bit += 1
                if bit == 8 { bit = 0; pos += 1 }
            }
            return v
        }
        mutating func alignToByte() { if bit != 0 { bit = 0; pos += 1 } }
    }

    /// Canonical Huffman table: counts per length and symbols sorted by code.
    struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []
        init(lengths: [Int]) {
            for l in lengths { counts[l] += 1 }
            counts[0] = 0
            var offs = [Int](repeating: 0, count: 16)
            for l in 1..<16 { offs[l] = offs[l - 1] + counts[l - 1] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (s, l) in lengths.enumerated() where l != 0 { symbols[offs[l]] = s; offs[l] += 1 }
        }
        func decode(_ r: inout BitReader) throws -> Int {
            var code = 0, first = 0, index = 0
            for len in 1..<16 {
                code |= try r.bits(1)
                let count = counts[len]
                if code - count < first { return symbols[index + (code - first)] }
                index += count; first += count; first <<= 1; code <<= 1
            }
            throw NpzError.corrupt("bad huffman code")
        }
    }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    static func inflate(_ input: [UInt8], expectedSize: Int) throws -> [UInt8] {
        var r = BitReader(bytes: input)
        var out: [UInt8] = []
        out.reserveCapacity(expectedSize)
        var final = 0
        repeat {
            final = try r.bits(1)
            let type = try r.bits(2)
            switch type {
            case 0:
                r.alignToByte()
                guard r.pos + 4 <= input.count else { throw NpzError.corrupt("stored block header") }
                let len = Int(input[r.pos]) | Int(input[r.pos + 1]) << 8
                r.pos += 4
                out.append(contentsOf: input[r.pos..<(r.pos + len)])
                r.pos += len
            case 1, 2:
                let lit: Huffman, dist: Huffman
                if type == 1 {
                    var l = [Int](repeating: 8, count: 288)
                    for i in 144..<256 { l[i] = 9 }
                    for i in 256..<280 { l[i] = 7 }
                    lit = Huffman(lengths: l)
                    dist = Huffman(lengths: [Int](repeating: 5, count: 30))
                } else {
                    let hlit = try r.bits(5) + 257, hdist = try r.bits(5) + 1, hclen = try r.bits(4) + 4
                    let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
                    var cl = [Int](repeating: 0, count: 19)
                    for i in 0..<hclen { cl[order[i]] = try r.bits(3) }
                    let clh = Huffman(lengths: cl)
                    var lengths: [Int] = []
                    while lengths.count < hlit + hdist {
                        let sym = try clh.decode(&r)
                        switch sym {
                        case 0..<16: lengths.append(sym)
                        case 16:
                            guard let prev = lengths.last else { throw NpzError.corrupt("repeat with no length") }
                            lengths += [Int](repeating: prev, count: 3 + (try r.bits(2)))
                        case 17: lengths += [Int](repeating: 0, count: 3 + (try r.bits(3)))
                        default: lengths += [Int](repeating: 0, count: 11 + (try r.bits(7)))
                        }
                    }
                    lit = Huffman(lengths: Array(lengths[0..<hlit]))
                    dist = Huffman(lengths: Array(lengths[hlit...]))
                }
                while true {
                    let sym = try lit.decode(&r)
                    if sym < 256 { out.append(UInt8(sym)); continue }
                    if sym == 256 { break }
                    let li = sym - 257
                    let length = lengthBase[li] + (try r.bits(lengthExtra[li]))
                    let di = try dist.decode(&r)
                    let distance = distBase[di] + (try r.bits(distExtra[di]))
                    let start = out.count - distance
                    guard start >= 0 else { throw NpzError.corrupt("distance too far back") }
                    for k in 0..<length { out.append(out[start + k]) }
                }
            default:
                throw NpzError.corrupt("reserved block type")
            }
        } while final == 0
        return out
    }
}
