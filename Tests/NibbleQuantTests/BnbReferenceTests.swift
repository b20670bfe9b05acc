import Foundation
import Testing
import NibbleKernels
import NibbleTestSupport
@testable import NibbleQuant

/// Bit-for-bit comparison against bitsandbytes 0.50.2 reference arrays (case list from bnb_refs.json).
@Suite struct BnbReferenceTests {
    static let refs = try! NpzArchive(contentsOf: SharedFixtures.reference("bnb/bnb_refs.npz"))
    nonisolated(unsafe) static let cases: [String: [String: Any]] = {
        let data = try! Data(contentsOf: SharedFixtures.reference("bnb/bnb_refs.json"))
        let root = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        return root["cases"] as! [String: [String: Any]]
    }()

    /// Bits of an f32 or widened-f16/bf16 reference array (the `_bits` twin holds the raw bits).
    func bits(_ key: String) throws -> [UInt32] { try Self.refs.array(key + "_bits").values(UInt32.self) }

    @Test func fourBitCasesMatchBitForBit() throws {
        let names = Self.cases.keys.filter { $0.hasPrefix("q4_") }.sorted()
        #expect(names.count == 20)
        for name in names {
            let c = Self.cases[name]!
            let cast = c["input_cast_to"] as! String
            var input = try Self.refs.array(c["input"] as! String).floats
            if cast == "float16" { input = input.map(roundToF16) }
            if cast == "bfloat16" { input = input.map(roundToBF16) }
            let type = FourBitQuantType(rawValue: c["quant_type"] as! String)!
            let dq = c["double_quant"] as! Bool
            let (packed, absmax) = input.withUnsafeBufferPointer { FourBitQuantizer.quantize($0, type: type) }
            #expect(packed == (try Self.refs.array(name + "_packed").uint8s), "\(name) packed")
            var usedAbsmax = absmax
            if dq {
                let nested = NestedAbsmax(quantizing: absmax)
                #expect(nested.codes == (try Self.refs.array(name + "_absmax").uint8s), "\(name) absmax codes")
                #expect(nested.offset.bitPattern == (try bits(name + "_offset"))[0], "\(name) offset")
                #expect(nested.nestedAbsmax.map(\.bitPattern) == (try bits(name + "_nested_absmax")), "\(name) nested absmax")
                #expect(CodeTables.dynamic8bit.map(\.bitPattern) == (try bits(name + "_nested_code")), "\(name) nested code")
                usedAbsmax = nested.absmax()
                #expect(usedAbsmax.map(\.bitPattern) == (try bits(name + "_absmax_deq")), "\(name) absmax deq")
            } else {
                #expect(absmax.map(\.bitPattern) == (try bits(name + "_absmax")), "\(name) absmax")
            }
            // The reference dequantizes to the input's dtype; the `_bits` twin is f16/bf16 bits or f32 bits.
            let deqDType: ComputeDType = cast == "float16" ? .float16 : cast == "bfloat16" ? .bfloat16 : .float32
            let deq = FourBitQuantizer.dequantize(packed: packed, absmax: usedAbsmax, count: input.count, type: type,
                                                  dtype: deqDType)
            let refDeq = try Self.refs.array(name + "_deq_bits")
            let ours: [UInt32]
            switch deqDType {
            case .float32: ours = deq.map(\.bitPattern)
            case .float16: ours = deq.map { UInt32(f32ToF16($0)) }
            case .bfloat16: ours = deq.map { UInt32(f32ToBF16($0)) }
            }
            let theirs: [UInt32] = refDeq.descr.hasSuffix("2") ? refDeq.values(UInt16.self).map(UInt32.init) : refDeq.values(UInt32.self)
            #expect(ours == theirs, "\(name) deq")
        }
    }

    @Test func blockwiseEightBitMatches() throws {
        let input = try Self.refs.array("in_B8").floats
        let (codes, absmax) = BlockwiseEightBit.quantize(input)
        #expect(codes == (try Self.refs.array("bw8_B8_codes").uint8s))
        #expect(absmax.map(\.bitPattern) == (try bits("bw8_B8_absmax")))
        let deq = BlockwiseEightBit.dequantize(codes: codes, absmax: absmax)
        #expect(deq.map(\.bitPattern) == (try bits("bw8_B8_deq")))
    }

    @Test func int8CasesMatch() throws {
        let w = try Self.refs.array("in_W8").uint16s.map(f16ToF32)  // (48, 96)
        let bias = try Self.refs.array("in_b8").uint16s.map(f16ToF32)  // (48)
        let x = try Self.refs.array("in_X8").uint16s.map(f16ToF32)  // (5, 96)
        let (cb, scb) = w.withUnsafeBufferPointer { Int8Quantizer.quantize(weight: $0, outFeatures: 48, inFeatures: 96) }
        #expect(cb == (try Self.refs.array("i8_CB").int8s))
        #expect(scb.map(\.bitPattern) == (try bits("i8_SCB")))
        let weight0 = Int8Weight(outFeatures: 48, inFeatures: 96, cb: cb, scb: scb)
        #expect(weight0.dequantized().map(\.bitPattern) == (try bits("i8_vectorwise_dequant_W")))
        for name in Self.cases.keys.filter({ $0.hasPrefix("i8_") }).sorted() {
            let c = Self.cases[name]!
            let weight = Int8Weight(outFeatures: 48, inFeatures: 96, cb: cb, scb: scb,
                                    threshold: Float((c["threshold"] as! NSNumber).doubleValue))
            let f = x.withUnsafeBufferPointer { weight.forward($0.baseAddress!, rows: 5) }
            #expect(f.ca == (try Self.refs.array(name + "_CA").int8s), "\(name) CA")
            #expect(f.sca.map(\.bitPattern) == (try bits(name + "_SCA")), "\(name) SCA")
            #expect(f.outlierColumns.map(Int64.init) == (try Self.refs.array(name + "_outlier_cols").int64s), "\(name) cols")
            #expect(f.i32 == (try Self.refs.array(name + "_i32").int32s), "\(name) i32")
            #expect(f.mmDequant.map(\.bitPattern) == (try bits(name + "_mmdequant_fp32")), "\(name) mmdequant")
            // Full linear output: the outlier fp matmul and bias add run through BLAS in bnb, whose summation
            // order is not ours, so compare with a tolerance of a few ulps of the output magnitude.
            let ref = try Self.refs.array(name + "_linear_out_fp32in").floats
            for r in 0..<5 {
                for o in 0..<48 {
                    let ours = f.output[r * 48 + o] + bias[o]
                    let theirs = ref[r * 48 + o]
                    #expect(abs(ours - theirs) <= 1e-3 * max(1, abs(theirs)), "\(name) out[\(r),\(o)]")
                }
            }
        }
    }
}
