import Foundation
import NibbleFormats
import NibbleTestSupport
import Testing

/// Seeded fuzzing of the safetensors header parser: mutated real headers and random bytes must either parse
/// into tensors whose byte ranges lie inside the file, or throw `FormatError` — never crash.
@Suite struct SafetensorsFuzzTests {
    /// A valid small file to mutate.
    static func seedFile() throws -> Data {
        let values = (0..<24).map { Float($0) }
        return try SafetensorsWriter.serialize([
            TensorRecord(name: "model.norm.weight", dtype: .f32, shape: [4, 6], bytes: values.withUnsafeBytes { Array($0) }),
            TensorRecord(name: "b", dtype: .f16, shape: [3], bytes: [0, 60, 0, 64, 0, 66]),
            TensorRecord(name: "c", dtype: .i8, shape: [], bytes: [7]),
        ], metadata: ["format": "pt"])
    }

    static func check(_ data: Data, in directory: URL, index: Int) {
        let path = directory.appendingPathComponent("f\(index).safetensors").path
        FileManager.default.createFile(atPath: path, contents: data)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let file = try SafetensorsFile(path: path)
            for view in file.tensors.values {
                #expect(view.byteRange.lowerBound >= 8 && view.byteRange.upperBound <= data.count)
                #expect(view.byteRange.count == view.elementCount * view.dtype.size)
                _ = view.floats()  // reading every accepted tensor must be safe
            }
        } catch is FormatError {
            // Rejected with a clear error: fine.
        } catch {
            Issue.record("unexpected error type \(type(of: error)): \(error)")
        }
    }

    @Test func mutatedHeadersNeverCrash() throws {
        let seed = try Self.seedFile()
        let headerLength = Int(seed.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var rng = SeededRandom(seed: 0x5AFE_7E45)
        let interesting = Array("{}[]\":,0123456789-eE.FUIBx \\".utf8)
        for round in 0..<3000 {
            var data = seed
            switch round % 5 {
            case 0:  // flip bytes anywhere in the header (or its length prefix)
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let at = Int.random(in: 0..<(8 + headerLength), using: &rng)
                    data[at] = UInt8.random(in: 0...255, using: &rng)
                }
            case 1:  // replace header bytes with JSON punctuation and digits
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let at = Int.random(in: 8..<(8 + headerLength), using: &rng)
                    data[at] = interesting.randomElement(using: &rng)!
                }
            case 2:  // truncate
                data = data.prefix(Int.random(in: 0..<data.count, using: &rng))
            case 3:  // lie about the header length
                let length = UInt64.random(in: 0...UInt64(data.count + 64), using: &rng)
                withUnsafeBytes(of: length.littleEndian) { data.replaceSubrange(0..<8, with: $0) }
            default:  // random bytes
                data = Data((0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
            Self.check(data, in: directory, index: round)
        }
    }
}
