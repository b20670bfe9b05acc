import NibbleKernels
import NibbleTestSupport
import Testing

/// The int8 and 4-bit kernels on both paths against plain Swift references: int8 sums exactly, 4-bit
/// dequantization exactly (one-hot inputs pick single weights), 4-bit products within float summation error.
@Suite struct QuantizedKernelTests {
    static let paths: [KernelPath] = [.vector, .avx2, .portable]

    static func randomInt8(_ count: Int, _ rng: inout SeededRandom) -> [Int8] {
        (0..<count).map { _ in Int8(truncatingIfNeeded: rng.next()) }  // the full range, −128 included
    }

    static func referenceInt32(_ a: [Int8], _ b: [Int8], rows: Int, out: Int, inner: Int) -> [Int32] {
        var y = [Int32](repeating: 0, count: rows * out)
        for r in 0..<rows {
            for o in 0..<out {
                var acc: Int32 = 0
                for i in 0..<inner { acc &+= Int32(a[r * inner + i]) * Int32(b[o * inner + i]) }
                y[r * out + o] = acc
            }
        }
        return y
    }

    /// The kernel's int32 sums; `weightSymmetric` declares b free of −128 (the u8×s8 path).
    static func int32(_ a: [Int8], _ b: [Int8], rows: Int, out: Int, inner: Int, path: KernelPath,
                      weightSymmetric: Bool = false) -> [Int32] {
        var y = [Int32](repeating: .min, count: rows * out)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                y.withUnsafeMutableBufferPointer { yp in
                    Int8Kernels.matmulInt32(a: ap.baseAddress!, b: bp.baseAddress!, rows: rows, out: out, inner: inner,
                                            into: yp.baseAddress!, weightSymmetric: weightSymmetric,
                                            path: path)
                }
            }
        }
        return y
    }

    @Test func int8SumsAreExactOnOddShapes() {
        var rng = SeededRandom(seed: 8)
        for inner in [1, 7, 15, 16, 17, 31, 32, 33, 63, 100] {
            for out in [1, 3, 4, 5, 17, 37] {
                let b = Self.randomInt8(out * inner, &rng)
                for rows in 1...9 {
                    let a = Self.randomInt8(rows * inner, &rng)
                    let expected = Self.referenceInt32(a, b, rows: rows, out: out, inner: inner)
                    for path in Self.paths {
                        #expect(Self.int32(a, b, rows: rows, out: out, inner: inner, path: path) == expected,
                                "\(path) rows \(rows) out \(out) in \(inner)")
                    }
                }
            }
        }
    }

    /// Split across threads and over several cache blocks of weight rows; extreme values on every lane.
    @Test(arguments: [(1, 1000, 515), (7, 301, 2048), (16, 130, 96), (3, 9, 4096)])
    func int8ThreadedShapes(shape: (Int, Int, Int)) {
        let (rows, out, inner) = shape
        var rng = SeededRandom(seed: UInt64(out))
        var a = Self.randomInt8(rows * inner, &rng), b = Self.randomInt8(out * inner, &rng)
        for i in 0..<min(inner, 64) { a[i] = -128; b[i] = -128 }
        let expected = Self.referenceInt32(a, b, rows: rows, out: out, inner: inner)
        for path in Self.paths {
            #expect(Self.int32(a, b, rows: rows, out: out, inner: inner, path: path) == expected, "\(path) \(shape)")
        }
    }

    /// `Int8Kernels.matmulDequantized` over `ranges` of output features, into one `(rows, out)` result.
    static func dequantized(_ a: [Int8], _ b: [Int8], rows: Int, out: Int, inner: Int, rowScale: [Float],
                            colScale: [Float], k: Float, ranges: [Range<Int>], weightSymmetric: Bool = false,
                            path: KernelPath) -> [Float] {
        var y = [Float](repeating: .nan, count: rows * out)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                rowScale.withUnsafeBufferPointer { rp in
                    colScale.withUnsafeBufferPointer { cp in
                        y.withUnsafeMutableBufferPointer { yp in
                            for range in ranges {
                                Int8Kernels.matmulDequantized(
                                    a: ap.baseAddress!, b: bp.baseAddress!, rows: rows, out: out, inner: inner,
                                    rowScale: rp.baseAddress!, colScale: cp.baseAddress!, k: k, outputs: range,
                                    into: yp.baseAddress!, weightSymmetric: weightSymmetric, path: path)
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    @Test func int8DequantizedProductMatchesFormulaBitForBit() {
        var rng = SeededRandom(seed: 9)
        let rows = 5, out = 23, inner = 77
        let a = Self.randomInt8(rows * inner, &rng), b = Self.randomInt8(out * inner, &rng)
        let rowScale = KernelReferenceTests.random(rows, &rng), colScale = KernelReferenceTests.random(out, &rng)
        let k = Float(bitPattern: 0x3882_06AA)
        let sums = Self.referenceInt32(a, b, rows: rows, out: out, inner: inner)
        for path in Self.paths {
            // Two calls over disjoint output ranges, as the parallel split makes them.
            let y = Self.dequantized(a, b, rows: rows, out: out, inner: inner, rowScale: rowScale, colScale: colScale,
                                     k: k, ranges: [0..<10, 10..<out], path: path)
            for r in 0..<rows {
                for o in 0..<out {
                    let expected = (Float(sums[r * out + o]) * (rowScale[r] * colScale[o])) * k
                    #expect(y[r * out + o].bitPattern == expected.bitPattern, "\(path) [\(r), \(o)]")
                }
            }
        }
    }

    /// Row quantization against the definition, with outliers, NaN, infinities and an all-outlier row.
    @Test(arguments: [Float(0), 6])
    func int8RowQuantizationMatchesDefinition(threshold: Float) {
        var rng = SeededRandom(seed: 13)
        let rows = 4, cols = 37
        var x = KernelReferenceTests.random(rows * cols, &rng).map { roundToF16($0 * 8) }
        x[3] = .nan; x[5] = .infinity; x[40] = -.infinity; x[41] = 6; x[42] = -5.99
        for c in 0..<cols { x[3 * cols + c] = 7 }  // every entry an outlier when threshold > 0
        var expectedQ = [Int8](repeating: 0, count: rows * cols), expectedMax = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let row = (0..<cols).map { c -> Float in
                let v = x[r * cols + c]
                return threshold > 0 && abs(v) >= threshold ? 0 : v
            }
            var am: Float = 0
            for v in row { am = max(am, abs(v)) }
            expectedMax[r] = am
            let scale = (1 / am) * 127
            for c in 0..<cols {
                let v = (row[c] * scale).rounded(.toNearestOrEven)
                expectedQ[r * cols + c] = v.isNaN ? 0 : Int8(max(-127, min(127, v)))
            }
        }
        for path in Self.paths {
            var q = [Int8](repeating: 99, count: rows * cols), am = [Float](repeating: .nan, count: rows)
            x.withUnsafeBufferPointer { xp in
                q.withUnsafeMutableBufferPointer { qp in
                    am.withUnsafeMutableBufferPointer { ap in
                        Int8Kernels.quantizeRows(xp.baseAddress!, rows: rows, cols: cols, threshold: threshold,
                                                 into: qp.baseAddress!, absmax: ap.baseAddress!, path: path)
                    }
                }
            }
            #expect(q == expectedQ, "\(path) threshold \(threshold)")
            #expect(am.map(\.bitPattern) == expectedMax.map(\.bitPattern), "\(path) threshold \(threshold)")
        }
    }

    @Test(arguments: [FloatRounding.f16, .bf16])
    func roundingMatchesBitConversions(format: FloatRounding) {
        var rng = SeededRandom(seed: 10)
        var values: [Float] = [0, -0, 1, 65504, 65520, 65519.99, 1e-8, 5.96e-8, 2.98e-8, 6.1e-5, 1 + 1.0 / 256,
                               .infinity, -.infinity, .greatestFiniteMagnitude]
        for _ in 0..<20_000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        let expected = values.map { format == .f16 ? roundToF16($0) : roundToBF16($0) }
        for path in Self.paths {
            var out = [Float](repeating: 0, count: values.count)
            values.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { format.round(src.baseAddress!, into: $0.baseAddress!, count: values.count, path: path) }
            }
            for i in values.indices where !(expected[i].isNaN && out[i].isNaN) {
                #expect(out[i].bitPattern == expected[i].bitPattern, "\(path) \(values[i])")
            }
        }
    }

    // MARK: - 4-bit

    /// A random 4-bit weight and the plain dequantization the kernels must reproduce exactly.
    struct FourBit {
        var packed: [UInt8]        // ((out·in + 1) / 2)
        var code: [Float]          // (16)
        var absmax: [Float]        // (blocks)
        var codes8: [UInt8]        // (blocks) double-quantized absmax
        var table8: [Float]        // (256)
        var nested: [Float]        // (ceil(blocks / 256))
        var offset: Float
        var blocksize: Int
        var out: Int, inp: Int

        init(out: Int, inp: Int, blocksize: Int, rng: inout SeededRandom) {
            self.out = out; self.inp = inp; self.blocksize = blocksize
            let count = out * inp, blocks = (count + blocksize - 1) / blocksize
            packed = (0..<((count + 1) / 2)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            code = KernelReferenceTests.random(16, &rng)
            code[7] = 0; code[8] = -0.0
            absmax = KernelReferenceTests.random(blocks, &rng).map { abs($0) * 3 }
            codes8 = (0..<blocks).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            table8 = KernelReferenceTests.random(256, &rng)
            nested = KernelReferenceTests.random((blocks + 255) / 256, &rng)
            offset = 0.75
        }

        func scale(_ b: Int, doubleQuant: Bool) -> Float {
            doubleQuant ? table8[Int(codes8[b])] * nested[b / 256] + offset : absmax[b]
        }

        /// (out, in) dequantized and rounded.
        func dequantized(_ rounding: FloatRounding, doubleQuant: Bool) -> [Float] {
            (0..<(out * inp)).map { e in
                let byte = packed[e >> 1]
                return Self.round(code[Int(e & 1 == 0 ? byte >> 4 : byte & 0x0F)] * scale(e / blocksize, doubleQuant: doubleQuant),
                                  to: rounding)
            }
        }

        static func round(_ v: Float, to rounding: FloatRounding) -> Float {
            switch rounding {
            case .f32: return v
            case .f16: return roundToF16(v)
            case .bf16: return roundToBF16(v)
            }
        }

        func apply(_ x: [Float], rows: Int, rounding: FloatRounding, doubleQuant: Bool, path: KernelPath) -> [Float] {
            var y = [Float](repeating: .nan, count: rows * out)
            packed.withUnsafeBufferPointer { pp in
                code.withUnsafeBufferPointer { cp in
                    absmax.withUnsafeBufferPointer { ap in
                        codes8.withUnsafeBufferPointer { qp in
                            table8.withUnsafeBufferPointer { tp in
                                nested.withUnsafeBufferPointer { np in
                                    x.withUnsafeBufferPointer { xp in
                                        y.withUnsafeMutableBufferPointer { yp in
                                            let scales: FourBitKernels.BlockScales = doubleQuant
                                                ? .nested(codes: qp.baseAddress!, code: tp.baseAddress!, nested: np.baseAddress!,
                                                          nestedBlocksize: 256, offset: offset)
                                                : .plain(ap.baseAddress!)
                                            FourBitKernels.matmul(packed: pp.baseAddress!, code: cp.baseAddress!,
                                                                  blocksize: blocksize, scales: scales, compute: rounding,
                                                                  outFeatures: out, inFeatures: inp, x: xp.baseAddress!,
                                                                  rows: rows, y: yp.baseAddress!, path: path)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return y
        }
    }

    /// One-hot input rows select single weights, so every decoded value is checked bit for bit — on the fused
    /// one-row path (row by row), the register-decoding path of a few rows (2, 3, 6 at once) and the
    /// block-decoding path (all rows at once; rows of 1,024 and 1,376 columns go in two and three slices, the last
    /// one shorter, over several groups of input rows).
    @Test(arguments: [FloatRounding.f32, .f16, .bf16])
    func fourBitDecodesExactly(rounding: FloatRounding) {
        var rng = SeededRandom(seed: 11)
        for (out, inp, blocksize) in [(5, 37, 64), (7, 64, 64), (3, 130, 64), (20, 33, 16), (4, 9, 6), (6, 96, 32), (9, 64, 128),
                                       (5, 128, 64), (3, 384, 128), (4, 128, 256), (3, 256, 512),
                                       (3, 1024, 64), (2, 1376, 32)] {
            let weight = FourBit(out: out, inp: inp, blocksize: blocksize, rng: &rng)
            for doubleQuant in [false, true] {
                let expected = weight.dequantized(rounding, doubleQuant: doubleQuant)
                var identity = [Float](repeating: 0, count: inp * inp)  // (in, in)
                for j in 0..<inp { identity[j * inp + j] = 1 }
                for path in Self.paths {
                    let all = weight.apply(identity, rows: inp, rounding: rounding, doubleQuant: doubleQuant, path: path)
                    for j in [0, inp / 2, inp - 1] {
                        let one = weight.apply(Array(identity[(j * inp)..<((j + 1) * inp)]), rows: 1, rounding: rounding,
                                               doubleQuant: doubleQuant, path: path)
                        for o in 0..<out { #expect(one[o] == expected[o * inp + j], "\(path) one-row [\(o), \(j)]") }
                    }
                    for few in [2, 3, 6] where few <= inp {
                        let first = inp - few  // the last columns: a row's end is where blocks and slices meet
                        let some = weight.apply(Array(identity[(first * inp)..<(inp * inp)]), rows: few,
                                                rounding: rounding, doubleQuant: doubleQuant, path: path)
                        for r in 0..<few {
                            for o in 0..<out {
                                #expect(some[r * out + o] == expected[o * inp + first + r],
                                        "\(path) \(few) rows \(out)x\(inp)/\(blocksize) [\(o), \(first + r)]")
                            }
                        }
                    }
                    for j in 0..<inp {
                        for o in 0..<out {
                            #expect(all[j * out + o] == expected[o * inp + j],
                                    "\(path) \(rounding) dq \(doubleQuant) \(out)x\(inp)/\(blocksize) [\(o), \(j)]")
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: [FloatRounding.f32, .f16, .bf16])
    func fourBitProductsMatchReference(rounding: FloatRounding) {
        var rng = SeededRandom(seed: 12)
        // Rows of 32k elements with blocks of 32k take the AVX2 fast layout, rows of 128k with blocks of 64 or
        // 128k the AVX-512 one; (40, 512) crosses nested absmax groups; (9, 384, 256) and (3, 128, 4096) start
        // rows inside a block; (8, 2048) takes 2 … 6 rows decoded in registers over several column slices, 8–16
        // rows through a decoded block and 33 through decoded panels of four slices; (20, 1376, 32) three
        // slices, the last one shorter.
        let shapes = [(1, 1, 64), (3, 7, 64), (9, 37, 64), (4, 64, 64), (17, 100, 64), (5, 257, 128), (2, 2048, 64),
                      (300, 515, 64), (40, 512, 64), (13, 96, 32), (7, 320, 256), (9, 384, 256), (3, 128, 4096),
                      (70, 512, 128), (8, 2048, 64), (20, 1376, 32)]
        for (out, inp, blocksize) in shapes {
            let weight = FourBit(out: out, inp: inp, blocksize: blocksize, rng: &rng)
            for doubleQuant in [false, true] {
                let dequantized = weight.dequantized(rounding, doubleQuant: doubleQuant)
                for rows in [1, 2, 3, 5, 8, 9, 16, 33] {
                    let x = KernelReferenceTests.random(rows * inp, &rng)
                    // The kernel rounds its input to the compute format, as the weights are.
                    let rounded = x.map { FourBit.round($0, to: rounding) }
                    let expected = KernelReferenceTests.naiveMatmul(rounded, dequantized, rows: rows, out: out, inp: inp)
                    for path in Self.paths {
                        let y = weight.apply(x, rows: rows, rounding: rounding, doubleQuant: doubleQuant, path: path)
                        let error = MatmulKernelTests.maxError(y, expected)
                        // |w| ≤ 3·(|offset| + 1), float32 sums of `inp` products.
                        #expect(error < 2e-5 * Float(inp).squareRoot() * 6,
                                "\(path) \(rounding) dq \(doubleQuant) rows \(rows) \(out)x\(inp): \(error)")
                    }
                }
            }
        }
    }
}
