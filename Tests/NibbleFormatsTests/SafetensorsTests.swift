import Foundation
import NibbleFormats
import NibbleTestSupport
import Testing

/// Strict safetensors validation: every malformed file is an error naming the file (and tensor), never a crash.
@Suite struct SafetensorsTests {
    /// A scratch directory removed when the test ends.
    final class Scratch {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-st-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: url) }

        func write(_ bytes: Data, name: String = "model.safetensors") throws -> String {
            let path = url.appendingPathComponent(name).path
            try bytes.write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    /// A file with a raw header string and `dataBytes` bytes of payload.
    static func file(header: String, dataBytes: Int) -> Data {
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.append(Data(count: dataBytes))
        return data
    }

    static func expectError(_ data: Data, containing fragment: String) throws {
        let scratch = try Scratch()
        let path = try scratch.write(data)
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("expected an error containing '\(fragment)'")
        } catch let error as FormatError {
            #expect(error.description.contains(path), "error names the file: \(error)")
            #expect(error.description.contains(fragment), "\(error)")
        }
    }

    @Test func roundTripThroughWriter() throws {
        let scratch = try Scratch()
        let values: [Float] = [1, -2, 3.5, 0.25, 7, 8]
        let bytes = values.withUnsafeBytes { Array($0) }
        let url = scratch.url.appendingPathComponent("t.safetensors")
        try SafetensorsWriter.write([
            TensorRecord(name: "b", dtype: .f32, shape: [2, 3], bytes: bytes),
            TensorRecord(name: "a", dtype: .u8, shape: [3], bytes: [1, 2, 3]),
        ], metadata: ["format": "pt"], to: url)
        let file = try SafetensorsFile(path: url.path)
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.tensor("b").floats() == values)
        #expect(try file.tensor("b").shape == [2, 3])
        #expect(try file.tensor("a").data() == [1, 2, 3])
        #expect(file.tensorNames == ["a", "b"])
    }

    @Test func readsReferenceCheckpointHeaders() throws {
        let file = try SafetensorsFile(path: SharedFixtures.model("llama-tiny").appendingPathComponent("model.safetensors").path)
        let embed = try file.tensor("model.embed_tokens.weight")
        #expect(embed.dtype == .f16 && embed.shape == [32000, 128])
        let quantized = try SafetensorsFile(path: SharedFixtures.model("llama-tiny-bnb-int8").appendingPathComponent("model.safetensors").path)
        #expect(try quantized.tensor("model.layers.0.self_attn.q_proj.weight").dtype == .i8)
    }

    @Test func shardedIndexIsHonoured() throws {
        let archive = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny-sharded-bf16"))
        #expect(archive.files.count == 3)
        #expect(archive.contains("lm_head.weight"))
        #expect(throws: FormatError.self) { try archive.tensor("model.layers.9.mlp.up_proj.weight") }
    }

    @Test func truncatedFile() throws {
        try Self.expectError(Data([1, 2, 3]), containing: "shorter than the 8-byte length prefix")
        // Header declares 64 bytes of payload, the file has 10.
        let header = #"{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}"#
        try Self.expectError(Self.file(header: header, dataBytes: 10), containing: "run past the data area")
    }

    @Test func badHeaderLength() throws {
        var data = Data()
        withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array("{}".utf8))
        try Self.expectError(data, containing: "exceeds")
        var short = Data()
        withUnsafeBytes(of: UInt64(500).littleEndian) { short.append(contentsOf: $0) }
        short.append(contentsOf: Array("{}".utf8))
        try Self.expectError(short, containing: "runs past the end")
    }

    @Test func invalidJSON() throws {
        try Self.expectError(Self.file(header: "{\"w\": [", dataBytes: 0), containing: "not valid JSON")
        try Self.expectError(Self.file(header: "[1,2]   ", dataBytes: 0), containing: "does not start with '{'")
    }

    @Test func offsetsOutOfRangeOrInconsistent() throws {
        try Self.expectError(Self.file(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, dataBytes: 8),
                             containing: "reversed")
        try Self.expectError(Self.file(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8),
                             containing: "needs 12 bytes")
        try Self.expectError(Self.file(header: #"{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 8),
                             containing: "unsupported dtype")
        try Self.expectError(Self.file(header: #"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, dataBytes: 8),
                             containing: "non-negative integer")
        try Self.expectError(Self.file(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, dataBytes: 8),
                             containing: "data_offsets must be")
    }

    @Test func overlappingTensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        try Self.expectError(Self.file(header: header, dataBytes: 12), containing: "overlaps")
    }

    @Test func errorNamesTheTensor() throws {
        let scratch = try Scratch()
        let path = try scratch.write(Self.file(header: #"{"model.norm.weight":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}"#, dataBytes: 4))
        #expect(throws: FormatError.invalidTensor(path: path, tensor: "model.norm.weight",
                                                  reason: "shape [3] × F16 needs 6 bytes but data_offsets span 4")) {
            try SafetensorsFile(path: path)
        }
    }

    @Test func missingFile() {
        #expect(throws: FormatError.fileNotFound(path: "/nonexistent/model.safetensors")) {
            try SafetensorsFile(path: "/nonexistent/model.safetensors")
        }
    }
}
