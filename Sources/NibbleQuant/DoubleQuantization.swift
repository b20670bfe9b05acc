/// Double quantization of 4-bit absmax values: offset by their mean, then 8-bit blockwise with the dynamic map.
public struct NestedAbsmax: Sendable, Equatable {
    /// 8-bit codes into `CodeTables.dynamic8bit`. (blocks)
    public var codes: [UInt8]
    /// Absmax of each group of `blocksize` codes. (ceil(blocks/blocksize))
    public var nestedAbsmax: [Float]
    /// The mean subtracted before quantizing.
    public var offset: Float
    /// Group size of the nested quantization (256).
    public var blocksize: Int

    public init(codes: [UInt8], nestedAbsmax: [Float], offset: Float, blocksize: Int = 256) {
        self.codes = codes; self.nestedAbsmax = nestedAbsmax; self.offset = offset; self.blocksize = blocksize
    }

    /// Quantizes absmax values as `bnb.functional.quantize_4bit(compress_statistics=True)` does.
    public init(quantizing absmax: [Float], blocksize: Int = 256) {
        let offset = TorchSum.mean(absmax)
        let shifted = absmax.map { $0 - offset }
        let (codes, nested) = BlockwiseEightBit.quantize(shifted, blocksize: blocksize)
        self.init(codes: codes, nestedAbsmax: nested, offset: offset, blocksize: blocksize)
    }

    /// Reconstructs absmax: `code8[q] * nestedAbsmax[i / blocksize] + offset` in f32. (blocks)
    public func absmax() -> [Float] {
        let table = CodeTables.dynamic8bit
        return codes.indices.map { i in table[Int(codes[i])] * nestedAbsmax[i / blocksize] + offset }
    }

    /// Absmax of one 4-bit block.
    @inline(__always)
    public func absmax(block i: Int) -> Float {
        CodeTables.dynamic8bit[Int(codes[i])] * nestedAbsmax[i / blocksize] + offset
    }
}

/// 8-bit blockwise quantization with the signed dynamic map, through bnb's 65536-entry CPU lookup table.
public enum BlockwiseEightBit {
    /// lut[i] = index of the code nearest to `-1 + 2i/65535` (ties as bnb's search resolves them). (65536)
    static let lut: [UInt8] = {
        let c = CodeTables.dynamic8bit
        let mids = (0..<255).map { Float(0.5) * (c[$0] + c[$0 + 1]) } // (255)
        var table = [UInt8](repeating: 0, count: 65536)
        var j = 0
        for i in 0..<65536 {
            let val: Float = -1 + (2 * Float(i)) / 65535
            while j < 255 && mids[j] < val { j += 1 }
            table[i] = UInt8(j)
        }
        return table
    }()

    /// Quantizes `values` in blocks; returns codes `(n)` and per-block absmax `(ceil(n/blocksize))`.
    public static func quantize(_ values: [Float], blocksize: Int = 256) -> (codes: [UInt8], absmax: [Float]) {
        let n = values.count
        let blocks = (n + blocksize - 1) / blocksize
        var codes = [UInt8](repeating: 0, count: n)
        var absmax = [Float](repeating: 0, count: blocks)
        let lut = self.lut
        for b in 0..<blocks {
            let start = b * blocksize, end = min(start + blocksize, n)
            var am: Float = 0
            for i in start..<end { am = max(am, abs(values[i])) }
            absmax[b] = am
            if am == 0 { continue }  // codes stay 0, as bnb leaves them
            let inv = 1 / am
            for i in start..<end {
                let s = min(max(values[i] * inv, -1), 1)
                let scaled = (s + 1) * 0.5 * 65535 + 0.5
                codes[i] = lut[Int(UInt16(scaled))]
            }
        }
        return (codes, absmax)
    }

    /// `code[q] * absmax[i / blocksize]`. (n)
    public static func dequantize(codes: [UInt8], absmax: [Float], blocksize: Int = 256) -> [Float] {
        let table = CodeTables.dynamic8bit
        return codes.indices.map { table[Int(codes[$0])] * absmax[$0 / blocksize] }
    }
}

/// torch's CPU float sum (cascade sum over 8-lane AVX2 vectors, 4-way ILP, 1 thread), so means match bit for bit.
enum TorchSum {
    static let lanes = 8
    static let ilp = 4

    static func mean(_ x: [Float]) -> Float { sum(x) / Float(x.count) }

    static func sum(_ x: [Float]) -> Float {
        let n = x.count
        if n >= lanes {
            let vecCount = n / lanes
            // Vector accumulator: each "element" is 8 consecutive floats.
            let acc = rowSum(count: vecCount, width: lanes) { v, lane in x[v * lanes + lane] }
            var final: Float = 0
            for k in (vecCount * lanes)..<n { final += x[k] }
            for lane in 0..<lanes { final += acc[lane] }
            return final
        }
        return rowSum(count: n, width: 1) { v, _ in x[v] }[0]
    }

    /// row_sum: the row seen as (-1, 4) with multi-level partial sums; returns `width` lanes.
    static func rowSum(count: Int, width: Int, load: (Int, Int) -> Float) -> [Float] {
        let rows = count / ilp
        var partial = multiRowSum(rows: rows, width: width, load: load) // (ilp, width)
        for i in (rows * ilp)..<max(count, rows * ilp) {
            for l in 0..<width { partial[0][l] += load(i, l) }
        }
        for k in 1..<ilp { for l in 0..<width { partial[0][l] += partial[k][l] } }
        return partial[0]
    }

    static func multiRowSum(rows size: Int, width: Int, load: (Int, Int) -> Float) -> [[Float]] {
        let levels = 4
        let levelPower = max(4, ceilLog2(size) / levels)
        let levelStep = 1 << levelPower
        let levelMask = levelStep - 1
        let zero = [[Float]](repeating: [Float](repeating: 0, count: width), count: ilp)
        var acc = [[[Float]]](repeating: zero, count: levels) // (levels, ilp, width)
        var i = 0
        while i + levelStep <= size {
            for _ in 0..<levelStep {
                for k in 0..<ilp { for l in 0..<width { acc[0][k][l] += load(i * ilp + k, l) } }
                i += 1
            }
            for j in 1..<levels {
                for k in 0..<ilp { for l in 0..<width { acc[j][k][l] += acc[j - 1][k][l]; acc[j - 1][k][l] = 0 } }
                if (i & (levelMask << (j * levelPower))) != 0 { break }
            }
        }
        while i < size {
            for k in 0..<ilp { for l in 0..<width { acc[0][k][l] += load(i * ilp + k, l) } }
            i += 1
        }
        for j in 1..<levels { for k in 0..<ilp { for l in 0..<width { acc[0][k][l] += acc[j][k][l] } } }
        return acc[0]
    }

    static func ceilLog2(_ x: Int) -> Int {
        if x <= 2 { return x == 2 ? 1 : 0 }
        return Int.bitWidth - (x - 1).leadingZeroBitCount
    }
}
