import Foundation
import NibbleFormats
import NibbleQuant
import NibbleTestSupport
import Testing

/// The quant_state blob and config.json as bitsandbytes / transformers write them.
@Suite struct QuantStateTests {
    static let blobSuffix = ".weight.quant_state.bitsandbytes__nf4"

    @Test func everySavedBlobParsesAndReserializesByteForByte() throws {
        let saved = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny-bnb-nf4-dq"))
        let source = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny"))
        let blobs = saved.tensorNames.filter { $0.hasSuffix(Self.blobSuffix) }
        #expect(blobs.count == 14)
        for name in blobs {
            let bytes = try saved.tensor(name).data()
            let state = try FourBitQuantState(parsing: bytes, tensor: name)
            #expect(state.quantType == .nf4 && state.nested != nil)
            let module = String(name.dropLast(Self.blobSuffix.count))
            let original = try source.tensor(module + ".weight")
            #expect(state.shape == original.shape)
            #expect(state.blockCount == (try saved.tensor(module + ".weight.absmax")).elementCount)
            #expect(state.nestedBlockCount == (try saved.tensor(module + ".weight.nested_absmax")).elementCount)
            #expect(state.serialized() == bytes, "\(name)")
        }
    }

    @Test func quantizingReproducesTheSavedBlob() throws {
        let source = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny"))
        let saved = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny-bnb-nf4-dq"))
        for module in CheckpointParityTests.modules() {
            let view = try source.tensor(module + ".weight")
            let weight = view.floats().withUnsafeBufferPointer {
                FourBitWeight(quantizing: $0, outFeatures: view.shape[0], inFeatures: view.shape[1], quantType: .nf4,
                              doubleQuant: true, originalDType: "float32")
            }
            #expect(FourBitQuantState(weight).serialized() == (try saved.tensor(module + Self.blobSuffix).data()), "\(module)")
        }
    }

    @Test func savedMapsAreTheCodeTables() throws {
        let saved = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny-bnb-nf4-dq"))
        let module = "model.layers.0.mlp.up_proj.weight"
        #expect(try saved.tensor(module + ".quant_map").data() == BitsAndBytesMaps.quantMap(.nf4).withUnsafeBytes { Array($0) })
        #expect(try saved.tensor(module + ".nested_quant_map").data() == BitsAndBytesMaps.nestedQuantMap.withUnsafeBytes { Array($0) })
        // FP4's saved table has +0 at index 8 (built from Python ints), unlike the kernel's signed zero.
        #expect(BitsAndBytesMaps.quantMap(.fp4)[8].sign == .plus)
    }

    static func parseError(_ json: String, tensor: String = "m.weight.quant_state.bitsandbytes__nf4") -> String {
        do {
            _ = try FourBitQuantState(parsing: Array(json.utf8), tensor: tensor)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func strictParsingNamesTheProblem() {
        let good = #"{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [4, 64]}"#
        #expect(Self.parseError(good) == "")
        #expect(Self.parseError("not json").contains("m.weight.quant_state.bitsandbytes__nf4"))
        #expect(Self.parseError(#"{"quant_type": "nf4", "blocksize": 64, "dtype": "float32"}"#).contains("shape"))
        #expect(Self.parseError(good.replacingOccurrences(of: "}", with: #", "extra": 1}"#)).contains("extra"))
        #expect(Self.parseError(good.replacingOccurrences(of: "64,", with: "64.5,")).contains("blocksize"))
        #expect(Self.parseError(good.replacingOccurrences(of: "float32", with: "int8")).contains("dtype"))
        #expect(Self.parseError(good.replacingOccurrences(of: "[4, 64]", with: "[4, 0]")).contains("shape"))
        #expect(Self.parseError(good.replacingOccurrences(of: "}", with: #", "nested_offset": 0.1}"#)).contains("nested_blocksize"))
        #expect(Self.parseError(good, tensor: "m.weight.quant_state.bitsandbytes__fp4").contains("does not match"))
    }

    @Test func configDictionaryMatchesTheSavedQuantizationConfig() throws {
        for fixture in ["llama-tiny-bnb-nf4-dq", "llama-tiny-bnb-int8"] {
            let url = SharedFixtures.model(fixture).appendingPathComponent("config.json")
            let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            let savedObject = root["quantization_config"]!
            let settings = try JSONDecoder().decode(BitsAndBytesConfig.self,
                                                    from: JSONSerialization.data(withJSONObject: savedObject))
            let ours = try JSONSerialization.jsonObject(with: Data(settings.transformersDictionary().dumps().utf8))
            #expect((ours as! NSDictionary) == (savedObject as! NSDictionary), "\(fixture)")
            // Python's json layout of the whole file is reproduced from the parsed values.
            let text = try PythonJSON(foundation: root).dumps(indent: 2, sortKeys: true) + "\n"
            #expect(Data(text.utf8) == (try Data(contentsOf: url)), "\(fixture) config.json layout")
        }
    }

    @Test func privateFlagsAloneAreRead() throws {
        let c = try JSONDecoder().decode(BitsAndBytesConfig.self, from: Data(#"{"_load_in_4bit": true}"#.utf8))
        #expect(c.loadIn4bit && !c.loadIn8bit)
    }
}
