import Foundation
import NibbleFormats
import NibbleQuant
import NibbleTestSupport
import Testing

/// Quantizing llama-tiny's weights reproduces, byte for byte, the tensors transformers + bitsandbytes saved.
@Suite struct CheckpointParityTests {
    static let linears = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]

    static func modules() -> [String] {
        (0..<2).flatMap { layer in linears.map { "model.layers.\(layer).\($0)" } }
    }

    static func bytes(_ floats: [Float]) -> [UInt8] { floats.withUnsafeBytes { Array($0) } }

    @Test func nf4DoubleQuantMatchesTheSavedCheckpoint() throws {
        let source = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny"))
        let saved = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny-bnb-nf4-dq"))
        for module in Self.modules() {
            let values = try source.tensor(module + ".weight").floats()
            let (packed, absmax) = values.withUnsafeBufferPointer { FourBitQuantizer.quantize($0, type: .nf4) }
            let nested = NestedAbsmax(quantizing: absmax)
            #expect(packed == (try saved.tensor(module + ".weight").data()), "\(module) packed codes")
            #expect(nested.codes == (try saved.tensor(module + ".weight.absmax").data()), "\(module) absmax codes")
            #expect(Self.bytes(nested.nestedAbsmax) == (try saved.tensor(module + ".weight.nested_absmax").data()),
                    "\(module) nested absmax")
            #expect(Self.bytes(FourBitQuantType.nf4.code) == (try saved.tensor(module + ".weight.quant_map").data()),
                    "\(module) quant map")
            let blob = try saved.tensor(module + ".weight.quant_state.bitsandbytes__nf4").data()
            let state = try #require(try JSONSerialization.jsonObject(with: Data(blob)) as? [String: Any])
            let offset = try #require((state["nested_offset"] as? NSNumber)?.doubleValue)
            #expect(nested.offset.bitPattern == Float(offset).bitPattern, "\(module) nested offset")
        }
    }

    @Test func int8MatchesTheSavedCheckpoint() throws {
        let source = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny"))
        let saved = try SafetensorsArchive(directory: SharedFixtures.model("llama-tiny-bnb-int8"))
        for module in Self.modules() {
            let weight = try source.tensor(module + ".weight")
            let values = weight.floats()
            let (cb, scb) = values.withUnsafeBufferPointer {
                Int8Quantizer.quantize(weight: $0, outFeatures: weight.shape[0], inFeatures: weight.shape[1])
            }
            #expect(cb.map { UInt8(bitPattern: $0) } == (try saved.tensor(module + ".weight").data()), "\(module) CB")
            #expect(Self.bytes(scb) == (try saved.tensor(module + ".SCB").data()), "\(module) SCB")
            #expect(try saved.tensor(module + ".weight_format").data() == [0], "\(module) row-major format")
        }
    }
}
