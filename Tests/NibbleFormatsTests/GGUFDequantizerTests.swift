import Foundation
import NibbleFormats
import NibbleTestSupport
import Testing

/// Every ggml block type against gguf-py's reference dequantizer: `Fixtures/ggml-blocks.gguf` holds random
/// blocks (written by gguf-py's GGUFWriter) and `Fixtures/ggml-blocks.npz` the float32 values
/// `gguf.quants.dequantize` computed from them (`scripts/make-gguf-fixtures.py` regenerates both).
@Suite struct GGUFDequantizerTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test(arguments: GGMLType.allCases)
    func matchesGGUFPyBitForBit(type: GGMLType) throws {
        let file = try GGUFFile(path: Self.fixtures.appendingPathComponent("ggml-blocks.gguf").path)
        let reference = try NpzArchive(contentsOf: Self.fixtures.appendingPathComponent("ggml-blocks.npz"))
        let name = type.description.lowercased()
        let info = try #require(file.tensor(named: name), "fixture has no \(name) tensor")
        #expect(info.type == type)
        let expected = try reference.array(name)
        #expect(info.shape == expected.shape, "\(name): shape \(info.shape) vs gguf-py \(expected.shape)")
        let values = file.floats(of: info)
        let ours = values.map(\.bitPattern), theirs = expected.floatBits
        #expect(ours.count == theirs.count)
        let mismatches = zip(ours, theirs).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(mismatches.isEmpty, "\(name): \(mismatches.count) of \(theirs.count) values differ; first at \(mismatches.first.map { "\($0.offset): \(Float(bitPattern: $0.element.0)) vs \(Float(bitPattern: $0.element.1))" } ?? "")")
        // Random blocks must exercise both signs and real magnitudes, or the comparison proves little.
        #expect(values.contains { $0 > 0 } && values.contains { $0 < 0 }, "\(name) fixture is degenerate")
    }

    @Test func fixtureHeaderAsGGUFPyWroteIt() throws {
        let file = try GGUFFile(path: Self.fixtures.appendingPathComponent("ggml-blocks.gguf").path)
        #expect(file.version == 3)
        #expect(try file.string("general.architecture") == "llama")
        #expect(try file.string("general.name") == "ggml block fixtures")
        #expect(file.alignment == 32)
        #expect(file.tensors.count == GGMLType.allCases.count)
        // ggml dimensions run innermost first; the row-major shape is their reverse.
        let q6 = try #require(file.tensor(named: "q6_k"))
        #expect(q6.dimensions == [512, 3] && q6.shape == [3, 512])
        #expect(q6.byteRange.count == 3 * 2 * 210)
        for tensor in file.tensors { #expect(tensor.byteRange.lowerBound % 32 == 0, "\(tensor.name) is not aligned") }
    }
}
