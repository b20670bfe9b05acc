import Foundation
import NibbleTestSupport
import Testing
@testable import NibbleTokenizer

/// Every case of `reference/tokenizer-llama2-cases.json` (ids from the tokenizers library and from SentencePiece).
@Suite struct LlamaReferenceCasesTests {
    @Test func referenceFileHasCases() {
        #expect(Loaded.llamaCases.count >= 20)
    }

    @Test func tokenizerJSONMatchesTokenizersLibrary() throws {
        let tokenizer = try #require(Loaded.llamaTinyJSON)
        #expect(tokenizer is HFTokenizer)
        for c in Loaded.llamaCases {
            #expect(tokenizer.encode(c.text, addSpecialTokens: false) == c.hf_ids, "text: \(c.text.debugDescription)")
            #expect(tokenizer.decode(c.ids, skipSpecialTokens: true) == c.decoded, "text: \(c.text.debugDescription)")
        }
    }

    @Test func tokenizerModelMatchesSentencePiece() throws {
        let tokenizer = try #require(Loaded.llamaTinySP)
        #expect(tokenizer is SentencePieceTokenizer)
        for c in Loaded.llamaCases {
            #expect(tokenizer.encode(c.text, addSpecialTokens: false) == c.ids, "text: \(c.text.debugDescription)")
            #expect(tokenizer.decode(c.ids, skipSpecialTokens: true) == c.decoded, "text: \(c.text.debugDescription)")
        }
    }

    @Test(arguments: [TokenizerSource.json, .sentencepiece])
    func addSpecialTokensPrependsBOS(source: TokenizerSource) throws {
        let tokenizer = try #require(Loaded.tokenizer(model: "llama-tiny", source: source))
        #expect(tokenizer.bosTokenId == 1)
        #expect(tokenizer.eosTokenId == 2)
        #expect(tokenizer.addsBosToken)
        for c in Loaded.llamaCases {
            #expect(tokenizer.encode(c.text, addSpecialTokens: true) == [1] + c.ids)
        }
    }

    @Test(arguments: [TokenizerSource.json, .sentencepiece])
    func vocabularyLookups(source: TokenizerSource) throws {
        let tokenizer = try #require(Loaded.tokenizer(model: "llama-tiny", source: source))
        #expect(tokenizer.vocabularySize == 32000)
        #expect(tokenizer.tokenId(for: "</s>") == 2)
        #expect(tokenizer.tokenString(for: 13) == "<0x0A>")
        #expect(tokenizer.isSpecial(1) && tokenizer.isSpecial(2) && !tokenizer.isSpecial(13))
        #expect(tokenizer.tokenString(for: -1) == nil && tokenizer.tokenString(for: 32000) == nil)
        // Special tokens are dropped unless asked for.
        #expect(tokenizer.decode([1, 15043, 2], skipSpecialTokens: true) == "Hello")
    }

    @Test func bothSourcesAgreeOnLongText() throws {
        let json = try #require(Loaded.llamaTinyJSON)
        let sp = try #require(Loaded.llamaTinySP)
        let text = Loaded.llamaCases.map(\.text).joined(separator: "\n").replicated(20)
        let ids = json.encode(text, addSpecialTokens: false)
        #expect(ids == sp.encode(text, addSpecialTokens: false))
        #expect(json.decode(ids, skipSpecialTokens: true) == text)
    }
}

extension String {
    func replicated(_ n: Int) -> String { Array(repeating: self, count: n).joined(separator: " ") }
}
