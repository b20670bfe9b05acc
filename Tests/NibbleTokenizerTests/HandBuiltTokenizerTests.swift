import Foundation
import Testing
@testable import NibbleTokenizer

/// Small hand-checked tokenizers for features the reference models do not use.
@Suite struct HandBuiltTokenizerTests {
    static func tokenizerJSON(merges: String, prependScheme: String = "always", ignoreMerges: Bool = false) -> Data {
        Data("""
        {"added_tokens": [
            {"id": 10, "content": "<sep>", "special": true, "lstrip": true, "rstrip": false, "normalized": false, "single_word": false},
            {"id": 11, "content": "cab", "special": false, "lstrip": false, "rstrip": false, "normalized": false, "single_word": true}],
         "normalizer": null,
         "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "\(prependScheme)", "split": true},
         "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<sep>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {"<sep>": {"id": "<sep>", "ids": [10], "tokens": ["<sep>"]}}},
         "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "\(prependScheme)", "split": true},
         "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": false,
            "ignore_merges": \(ignoreMerges),
            "vocab": {"<unk>": 0, "▁": 1, "a": 2, "b": 3, "c": 4, "ab": 5, "▁ab": 6, "▁c": 7, "abc": 8, "▁abc": 9},
            "merges": \(merges)}}
        """.utf8)
    }

    static let stringMerges = #"["a b", "▁ ab", "▁ c"]"#
    static let pairMerges = #"[["a", "b"], ["▁", "ab"], ["▁", "c"]]"#

    @Test(arguments: [stringMerges, pairMerges])
    func mergesInBothFormats(merges: String) throws {
        let t = try HFTokenizer(tokenizerJSON: Self.tokenizerJSON(merges: merges))
        #expect(t.encode("ab c", addSpecialTokens: false) == [6, 7])
        #expect(t.decode([6, 7], skipSpecialTokens: true) == "ab c")
        // Unknown characters fuse into one <unk>.
        #expect(t.encode("abxxc", addSpecialTokens: false) == [6, 0, 4])
        // No merge "ab c" exists, so "▁abc" stays unreachable without ignore_merges.
        #expect(t.encode("abc", addSpecialTokens: false) == [6, 4])
        // The template's leading special token acts as BOS.
        #expect(t.encode("ab", addSpecialTokens: true) == [10, 6])
        #expect(t.bosTokenId == 10 && t.addsBosToken)
    }

    @Test func ignoreMergesUsesWholeWord() throws {
        let t = try HFTokenizer(tokenizerJSON: Self.tokenizerJSON(merges: Self.pairMerges, ignoreMerges: true))
        #expect(t.encode("abc", addSpecialTokens: false) == [9])
    }

    @Test func addedTokensSplitBeforeNormalization() throws {
        let t = try HFTokenizer(tokenizerJSON: Self.tokenizerJSON(merges: Self.pairMerges))
        // lstrip swallows the space before <sep>; the text after it gets its own "▁" (prepend_scheme always).
        #expect(t.encode("ab <sep>c", addSpecialTokens: false) == [6, 10, 7])
        #expect(t.decode([6, 10, 7], skipSpecialTokens: true) == "ab c")
        #expect(t.decode([6, 10, 7], skipSpecialTokens: false) == "ab<sep> c")
        // single_word: "cab" is only a token when it stands alone.
        #expect(t.encode("ab cab", addSpecialTokens: false) == [6, 1, 11])
        #expect(t.encode("abcab", addSpecialTokens: false).contains(11) == false)
    }

    @Test func prependSchemeFirst() throws {
        let t = try HFTokenizer(tokenizerJSON: Self.tokenizerJSON(merges: Self.pairMerges, prependScheme: "first"))
        #expect(t.encode("ab<sep>c", addSpecialTokens: false) == [6, 10, 4])
    }

    @Test func tokenizerConfigOverridesTemplate() throws {
        let config = TokenizerConfig(addBosToken: false, addEosToken: true, eosToken: "<sep>")
        let t = try HFTokenizer(tokenizerJSON: Self.tokenizerJSON(merges: Self.pairMerges), config: config)
        #expect(t.encode("ab", addSpecialTokens: true) == [6, 10])
        #expect(!t.addsBosToken)
    }

    @Test func tokenizerConfigTokenObjects() throws {
        let json = #"{"add_bos_token": false, "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"}"#
        let config = try TokenizerConfig.parse(Data(json.utf8), file: "tokenizer_config.json")
        #expect(config == TokenizerConfig(addBosToken: false, bosToken: "<s>", eosToken: "</s>"))
    }

    @Test func byteFallbackDecodingOfInvalidRun() throws {
        // The reference decoder renders an invalid run as one U+FFFD per byte.
        let tokens = ["<0xF0>", "<0x9F>", "a", "<0xC3>", "<0xA9>"]
        #expect(TokenDecoder.decodeByteFallback(tokens) == ["\u{FFFD}", "\u{FFFD}", "a", "é"])
    }
}

/// A hand-written SentencePiece unigram model, serialized with a minimal protobuf writer.
@Suite struct SentencePieceUnigramTests {
    struct Writer {
        var bytes: [UInt8] = []
        mutating func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
            bytes.append(UInt8(v))
        }
        mutating func key(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }
        mutating func int(_ field: Int, _ v: Int) { key(field, 0); varint(UInt64(bitPattern: Int64(v))) }
        mutating func float(_ field: Int, _ v: Float) {
            key(field, 5)
            let b = v.bitPattern
            for k in 0..<4 { bytes.append(UInt8((b >> (8 * UInt32(k))) & 0xFF)) }
        }
        mutating func bytes(_ field: Int, _ b: [UInt8]) { key(field, 2); varint(UInt64(b.count)); bytes += b }
        mutating func string(_ field: Int, _ s: String) { bytes(field, Array(s.utf8)) }
    }

    static func model(type: Int) -> Data {
        var w = Writer()
        let pieces: [(String, Float, Int)] = [
            ("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3),
            ("▁", -1, 1), ("a", -2, 1), ("b", -2, 1), ("ab", -1.5, 1), ("▁ab", -5, 1), ("c", -3, 1),
        ]
        for (piece, score, kind) in pieces {
            var p = Writer()
            p.string(1, piece)
            p.float(2, score)
            p.int(3, kind)
            w.bytes(1, p.bytes)
        }
        var trainer = Writer()
        trainer.int(3, type)
        trainer.int(40, 0)
        trainer.int(41, 1)
        trainer.int(42, 2)
        trainer.int(43, -1)
        w.bytes(2, trainer.bytes)
        var normalizer = Writer()
        normalizer.string(1, "identity")
        normalizer.int(3, 1)
        normalizer.int(4, 1)
        w.bytes(3, normalizer.bytes)
        return Data(w.bytes)
    }

    @Test func viterbiPicksBestScore() throws {
        let t = try SentencePieceTokenizer(modelData: Self.model(type: 1))
        #expect(t.model.modelType == .unigram)
        #expect(t.model.padId == -1)
        // "▁ab": ▁+ab = -2.5 beats ▁ab = -5 and ▁+a+b = -5.
        #expect(t.encode("ab", addSpecialTokens: false) == [3, 6])
        // Extra spaces removed; unknown "x" (no byte fallback) becomes <unk>, consecutive ones fused.
        #expect(t.encode("  ab  xxc ", addSpecialTokens: false) == [3, 6, 3, 0, 8])
        #expect(t.encode("ab", addSpecialTokens: true) == [1, 3, 6])
        #expect(t.decode([1, 3, 6, 3, 8, 2], skipSpecialTokens: true) == "ab c")
    }

    @Test func bpeMergesByScore() throws {
        let t = try SentencePieceTokenizer(modelData: Self.model(type: 2))
        // Pairs: (▁,a) no piece; (a,b) → ab (-1.5). Then (▁,ab) → ▁ab (-5).
        #expect(t.encode("ab", addSpecialTokens: false) == [7])
        #expect(t.encode("abc", addSpecialTokens: false) == [7, 8])
    }

    @Test func unsupportedModelType() throws {
        #expect(throws: TokenizerError.self) { try SentencePieceTokenizer(modelData: Self.model(type: 3)) }
    }
}
