import Foundation
import Testing
@testable import NibbleTokenizer

/// A GPT-2 style byte-level tokenizer built in the test: ids 0…255 are the bytes, 256 is "hi".
@Suite struct ByteLevelTests {
    static func tokenizer() throws -> HFTokenizer {
        var vocab: [String: Int] = [:]
        for b in 0..<256 { vocab[String(ByteLevel.byteToScalar[b])] = b }
        vocab["hi"] = 256
        let json: [String: Any] = [
            "added_tokens": [["id": 257, "content": "<|endoftext|>", "special": true]],
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            "post_processor": ["type": "ByteLevel"],
            "decoder": ["type": "ByteLevel"],
            "model": ["type": "BPE", "vocab": vocab, "merges": [["h", "i"]]],
        ]
        return try HFTokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: json))
    }

    @Test func byteTableIsABijection() {
        #expect(Set(ByteLevel.byteToScalar).count == 256)
        #expect(ByteLevel.byteToScalar[32] == "\u{120}")  // "Ġ"
        #expect(ByteLevel.byteToScalar[65] == "A")
    }

    @Test func encodesBytesAndDecodesBack() throws {
        let t = try Self.tokenizer()
        let ids = t.encode("hi 🦙", addSpecialTokens: false)
        #expect(ids == [256, 32, 0xF0, 0x9F, 0xA6, 0x99])
        #expect(t.decode(ids, skipSpecialTokens: true) == "hi 🦙")
        #expect(t.decode(ids + [257], skipSpecialTokens: false) == "hi 🦙<|endoftext|>")
        #expect(t.eosTokenId == 257)
    }

    @Test func streamingHoldsPartialCharacters() throws {
        let t = try Self.tokenizer()
        let ids = t.encode("hi 🦙 hi", addSpecialTokens: false)
        let chunks = streamChunks(t, ids)
        #expect(chunks.joined() == "hi 🦙 hi")
        #expect(!chunks.contains { $0.contains("\u{FFFD}") })
        // A permanently invalid byte is released once it can no longer be completed.
        let broken = [256, 0xF0, 256, 256, 256, 256]
        #expect(streamChunks(t, broken).joined() == t.decode(broken, skipSpecialTokens: true))
    }
}
