import Foundation
import NibbleTestSupport
import Testing
@testable import NibbleTokenizer

@Suite struct StreamingDetokenizerTests {
    static let sources: [TokenizerSource] = [.json, .sentencepiece]

    /// Streaming every reference case (with BOS, and with EOS appended) reproduces the one-shot decode,
    /// and no chunk carries a replacement character the full text does not have.
    @Test(arguments: sources)
    func streamingMatchesDecodeForEveryCase(source: TokenizerSource) throws {
        let tokenizer = try #require(Loaded.tokenizer(model: "llama-tiny", source: source))
        var sequences = Loaded.llamaCases.map { [1] + $0.ids + [2] }
        sequences += Loaded.llamaCases.map(\.ids)
        let kjv = try SharedFixtures.decodeReference(ModelReference.self, "llama-tiny-fp32.json")
        sequences += kjv.cases.map { $0.input_ids + ($0.greedy_new_ids ?? []) }
        for ids in sequences {
            for skip in [true, false] {
                let expected = tokenizer.decode(ids, skipSpecialTokens: skip)
                var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skip)
                var chunks: [String] = []
                for id in ids { chunks.append(stream.append(id)) }
                chunks.append(stream.flush())
                #expect(chunks.joined() == expected, "ids: \(ids)")
                #expect(stream.text == expected)
                #expect(stream.tokenCount == ids.count)
                if !expected.contains("\u{FFFD}") {
                    #expect(!chunks.contains { $0.contains("\u{FFFD}") }, "ids: \(ids)")
                }
            }
        }
    }

    /// 🦙 is four byte-fallback tokens; nothing is emitted until the last one arrives, which carries it whole.
    @Test(arguments: sources)
    func emojiSplitAcrossByteTokens(source: TokenizerSource) throws {
        let tokenizer = try #require(Loaded.tokenizer(model: "llama-tiny", source: source))
        let ids = tokenizer.encode("ok 🦙!", addSpecialTokens: false)
        let byteIds = Array("🦙".utf8).map { tokenizer.tokenId(for: ByteTokens.name($0))! }
        #expect(byteIds.count == 4)
        let start = try #require(ids.firstIndex(of: byteIds[0]))
        #expect(Array(ids[start..<(start + 4)]) == byteIds)

        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        var chunks: [String] = []
        for id in ids { chunks.append(stream.append(id)) }
        chunks.append(stream.flush())
        #expect(chunks.joined() == "ok 🦙!")
        // The first three bytes produce nothing; the fourth completes the emoji and releases it.
        let heldBack = chunks[start..<(start + 3)].allSatisfy { $0.isEmpty }
        #expect(heldBack)
        #expect(chunks[start + 3] == "🦙")
        #expect(!chunks.contains { $0.contains("\u{FFFD}") })
    }

    /// A byte run cut short at the end is released by `flush()` exactly as `decode` renders it.
    @Test(arguments: sources)
    func unfinishedByteRunIsFlushed(source: TokenizerSource) throws {
        let tokenizer = try #require(Loaded.tokenizer(model: "llama-tiny", source: source))
        let emojiBytes = Array("🦙".utf8).map { tokenizer.tokenId(for: ByteTokens.name($0))! }
        let ids = [15043] + emojiBytes.prefix(2)  // "Hello" + half an emoji
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        let emitted = ids.map { stream.append($0) }.joined()
        #expect(emitted == "Hello")
        let tail = stream.flush()
        #expect(emitted + tail == tokenizer.decode(ids, skipSpecialTokens: true))
        #expect(tail.contains("\u{FFFD}"))
    }

    /// Text arrives as it is generated, not all at the end.
    @Test func emitsIncrementally() throws {
        let tokenizer = try #require(Loaded.llamaTinyJSON)
        let ids = tokenizer.encode("The quick brown fox jumps over the lazy dog.", addSpecialTokens: true)
        let chunks = streamChunks(tokenizer, ids)
        #expect(chunks.filter { !$0.isEmpty }.count >= ids.count - 2)
        #expect(chunks[1] == "The")
        #expect(chunks[2] == " quick")
    }
}
