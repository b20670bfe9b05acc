import Foundation
import NibbleTestSupport
import NibbleTokenizer
import Testing

/// Seeded fuzzing of the tokenizers: arbitrary text always encodes to in-vocabulary ids whose decoding is the
/// text itself (LLaMA's byte fallback makes every string representable), and streaming decoding agrees.
@Suite struct TokenizerFuzzTests {
    static let alphabet: [Character] = Array("abc XYZ 012 ,.!?\n\t  ### Human: Assistant: é ß 中文 🦙 👍🏽 \u{200B}\u{0}ÿ")

    static func randomText(_ rng: inout SeededRandom) -> String {
        var text = ""
        for _ in 0..<Int.random(in: 0...40, using: &rng) {
            if Int.random(in: 0..<8, using: &rng) == 0 {
                // Any Unicode scalar, including rare planes.
                if let scalar = Unicode.Scalar(UInt32.random(in: 1...0x10FFFF, using: &rng)) { text.unicodeScalars.append(scalar) }
            } else {
                text.append(alphabet.randomElement(using: &rng)!)
            }
        }
        return text
    }

    @Test(arguments: [TokenizerSource.json, .sentencepiece])
    func randomTextRoundTrips(source: TokenizerSource) throws {
        let tokenizer = try Tokenizers.load(directory: SharedFixtures.model("llama-tiny"), prefer: source)
        var rng = SeededRandom(seed: source == .json ? 1 : 2)
        for _ in 0..<400 {
            let text = Self.randomText(&rng)
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            #expect(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize })
            let decoded = tokenizer.decode(ids, skipSpecialTokens: true)
            // The LLaMA tokenizer drops nothing but adds a leading "▁" that decoding strips; both sides agree
            // on text that does not start with a space.
            if !text.hasPrefix(" ") && !text.isEmpty {
                let same = decoded == text
                #expect(same, "round trip of \(text.unicodeScalars.map { String($0.value, radix: 16) }) gave \(decoded.unicodeScalars.map { String($0.value, radix: 16) })")
            }
            var streaming = StreamingDetokenizer(tokenizer: tokenizer)
            var streamed = ""
            for id in ids { streamed += streaming.append(id) }
            streamed += streaming.flush()
            #expect(streamed == decoded)
        }
    }

    @Test func randomTokenizerModelBytesAreErrors() throws {
        let real = try Data(contentsOf: SharedFixtures.model("kjv-llama-4m").appendingPathComponent("tokenizer.model"))
        var rng = SeededRandom(seed: 99)
        for _ in 0..<300 {
            var data = real.prefix(Int.random(in: 0...min(real.count, 4000), using: &rng))
            for _ in 0..<Int.random(in: 0...3, using: &rng) where !data.isEmpty {
                data[data.startIndex + Int.random(in: 0..<data.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            do {
                _ = try SentencePieceTokenizer(modelData: Data(data))
            } catch is TokenizerError {
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }
}
