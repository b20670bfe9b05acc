import Foundation
import NibbleFormats
import NibbleTestSupport
import Testing

/// The GGUF header reader: what a valid file yields, each malformed field refused with an error naming it, and
/// seeded random mutations that must never crash.
@Suite struct GGUFReaderTests {
    static func open(_ bytes: [UInt8]) throws -> GGUFFile {
        let memory = try MappedFile(anonymous: bytes.count, label: "test.gguf") { out in
            bytes.withUnsafeBytes { out.copyMemory(from: $0) }
        }
        return try GGUFFile(file: memory)
    }

    /// The error message of a file that must be refused.
    static func refusal(_ bytes: [UInt8]) -> String {
        do {
            _ = try open(bytes)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func smallFileReadsBack() throws {
        let file = try Self.open(GGUFTestWriter.small())
        #expect(file.version == 3)
        #expect(file.metadataKeys == ["general.architecture", "llama.block_count"])
        #expect(try file.string("general.architecture") == "llama")
        #expect(try file.int("llama.block_count") == 1)
        let a = try #require(file.tensor(named: "a"))
        #expect(a.shape == [2, 4] && a.type == .f32)
        #expect(file.floats(of: a) == (0..<8).map { Float($0) - 3.5 })
        let b = try #require(file.tensor(named: "b"))
        #expect(file.floats(of: b) == (0..<32).map { Float($0 - 16) })
        #expect(throws: GGUFError.self) { try file.int("general.architecture") }
    }

    @Test func customAlignmentIsHonoured() throws {
        let file = try Self.open(GGUFTestWriter.small(alignment: 64))
        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        #expect(file.floats(of: try #require(file.tensor(named: "b"))) == (0..<32).map { Float($0 - 16) })
    }

    @Test func malformedFieldsAreNamed() {
        let good = GGUFTestWriter.small()
        var badMagic = good
        badMagic[0] = 0x46
        #expect(Self.refusal(badMagic).contains("magic"))

        var version1 = good
        version1[4] = 1
        #expect(Self.refusal(version1).contains("version 1"))

        var manyTensors = good
        manyTensors.replaceSubrange(8..<16, with: withUnsafeBytes(of: UInt64(1 << 40)) { Array($0) })
        #expect(Self.refusal(manyTensors).contains("tensor count"))

        var truncated = GGUFTestWriter()
        truncated.header(tensors: 0, metadata: 1)
        truncated.kvString("general.architecture", "llama")
        #expect(Self.refusal(Array(truncated.bytes.prefix(40))).contains("metadata key #0 claims 20 bytes, only 8 remain"))

        #expect(Self.refusal(GGUFTestWriter.small(alignment: 48)).contains("general.alignment"))

        var w = GGUFTestWriter()
        w.header(tensors: 0, metadata: 1)
        w.string("key")
        w.u32(8)
        w.u64(1 << 50)
        #expect(Self.refusal(w.bytes).contains("claims"))

        w = GGUFTestWriter()
        w.header(tensors: 0, metadata: 1)
        w.string("bad.type")
        w.u32(99)
        #expect(Self.refusal(w.bytes).contains("'bad.type'") && Self.refusal(w.bytes).contains("unknown value type 99"))

        w = GGUFTestWriter()
        w.header(tensors: 0, metadata: 2)
        w.kvU32("twice", 1)
        w.kvU32("twice", 2)
        #expect(Self.refusal(w.bytes).contains("'twice'") && Self.refusal(w.bytes).contains("twice"))

        func oneTensor(dims: [UInt64], type: UInt32, offset: UInt64, data: Int) -> [UInt8] {
            var w = GGUFTestWriter()
            w.header(tensors: 1, metadata: 0)
            w.tensorInfo("blk.0.attn_q.weight", dims: dims, type: type, offset: offset)
            w.pad(to: 32)
            w.bytes += [UInt8](repeating: 0, count: data)
            return w.bytes
        }
        #expect(oneTensor(dims: [32, 1], type: 8, offset: 0, data: 34).count > 0)
        #expect(Self.refusal(oneTensor(dims: [32, 1], type: 8, offset: 0, data: 34)) == "accepted")
        let notBlock = Self.refusal(oneTensor(dims: [30, 1], type: 8, offset: 0, data: 34))
        #expect(notBlock.contains("blk.0.attn_q.weight") && notBlock.contains("block size 32"))
        #expect(Self.refusal(oneTensor(dims: [32, 1], type: 8, offset: 0, data: 33)).contains("past the end"))
        #expect(Self.refusal(oneTensor(dims: [32, 1], type: 8, offset: 8, data: 64)).contains("alignment"))
        #expect(Self.refusal(oneTensor(dims: [32, 0], type: 8, offset: 0, data: 34)).contains("dimension 1 is 0"))
        #expect(Self.refusal(oneTensor(dims: [1 << 30, 1 << 30], type: 0, offset: 0, data: 0)).contains("overflows"))
        let q2 = Self.refusal(oneTensor(dims: [256, 1], type: 10, offset: 0, data: 84))
        #expect(q2.contains("Q2_K") && q2.contains("Q4_K"))

        var overlap = GGUFTestWriter()
        overlap.header(tensors: 2, metadata: 0)
        overlap.tensorInfo("x", dims: [16], type: 0, offset: 0)
        overlap.tensorInfo("y", dims: [16], type: 0, offset: 32)
        overlap.pad(to: 32)
        overlap.bytes += [UInt8](repeating: 0, count: 96)
        #expect(Self.refusal(overlap.bytes).contains("overlaps"))
    }

    @Test func seededMutationsNeverCrash() throws {
        let seed = GGUFTestWriter.small()
        var random = SeededRandom(seed: 0x6767_7566)
        var accepted = 0, refused = 0
        for round in 0..<3000 {
            var bytes = seed
            switch round % 4 {
            case 0:  // flip a few bytes anywhere
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 1:  // truncate
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
            case 2:  // overwrite an aligned 8-byte field in the header with an extreme value
                let at = Int.random(in: 0..<(min(bytes.count, 200) / 4), using: &random) * 4
                let value: UInt64 = [0, 1, .max, 1 << 32, 1 << 63, UInt64.random(in: 0...UInt64.max, using: &random)]
                    .randomElement(using: &random)!
                withUnsafeBytes(of: value.littleEndian) { raw in
                    for i in 0..<8 where at + i < bytes.count { bytes[at + i] = raw[i] }
                }
            default:  // random garbage after a valid magic and version
                bytes = Array(seed.prefix(8)) + (0..<Int.random(in: 0...256, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            }
            do {
                let file = try Self.open(bytes)
                for tensor in file.tensors {
                    #expect(tensor.byteRange.lowerBound >= file.dataOffset && tensor.byteRange.upperBound <= bytes.count)
                    _ = file.floats(of: tensor)  // reading every accepted tensor must be safe
                }
                accepted += 1
            } catch is GGUFError {
                refused += 1
            } catch is FormatError {
                refused += 1
            }
        }
        // Both outcomes must occur, or the mutations are not reaching the parser.
        #expect(accepted > 0 && refused > 0, "accepted \(accepted), refused \(refused)")
    }
}
