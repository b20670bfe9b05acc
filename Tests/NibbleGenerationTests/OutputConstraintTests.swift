import Foundation
@testable import NibbleGeneration
import NibbleGrammar
import NibbleTestFakes
import NibbleTestSupport
import Testing

/// Grammar-constrained steps of `GenerationState` over the fake byte tokenizer, with seeded random logits that
/// always rank EOS first: every output must still be a complete match, and EOS may only come once it is.
@Suite struct OutputConstraintTests {
    let tokenizer = FakeTokenizer()

    /// The fake tokenizer's vocabulary: its byte tokens and words; the three specials are not text.
    var vocabulary: TokenVocabulary {
        let bytes: [[UInt8]?] = (0..<tokenizer.vocabularySize).map { id in
            switch id {
            case 0...2: return nil
            case 3..<FakeTokenizer.firstWord: return [UInt8(id - 3)]
            default: return Array(FakeTokenizer.words[id - FakeTokenizer.firstWord].utf8)
            }
        }
        return TokenVocabulary(tokenBytes: bytes, endTokenIds: [2])
    }

    func generate(_ grammar: Grammar, seed: UInt64, maxTokens: Int = 200,
                  configure: (inout GenerationParameters) -> Void = { _ in }) throws -> (text: String, finish: FinishReason?, ids: [Int]) {
        var parameters = GenerationParameters()
        parameters.temperature = 1
        parameters.seed = seed
        parameters.maxNewTokens = maxTokens
        configure(&parameters)
        var state = try GenerationState(tokenizer: tokenizer, promptTokens: [1], parameters: try parameters.validated(), eosTokenIds: [2],
                                        contextLength: 1024, constraint: OutputConstraint(grammar: grammar, vocabulary: vocabulary))
        var rng = SeededRandom(seed: seed)
        var text = ""
        while state.finish == nil {
            var logits = (0..<tokenizer.vocabularySize).map { _ in Float(Double(rng.next() % 1000) / 250) }
            logits[2] = 50  // EOS would always win unless masked
            if case .token(_, let piece) = try state.next(logits: &logits) { text += piece }
        }
        return (text, state.finish, state.generated)
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func schemaOutputsParseAndMatch(seed: UInt64) throws {
        let schema = #"{"type": "object", "properties": {"n": {"type": "integer", "minimum": -5, "maximum": 300}, "ok": {"type": "boolean"}, "tag": {"enum": ["a", "bc"]}}, "required": ["n", "ok"], "additionalProperties": false}"#
        let grammar = try JSONSchemaGrammar.grammar(schema: schema)
        let (text, finish, ids) = try generate(grammar, seed: seed)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        let n = try #require(object["n"] as? Int, "\(text)")
        #expect((-5...300).contains(n))
        #expect(object["ok"] is Bool)
        #expect(Set(object.keys).isSubset(of: ["n", "ok", "tag"]))
        // EOS ends it only where the grammar could end; otherwise the grammar itself completed.
        #expect(finish == .stop(.eos(tokenId: 2)) || finish == .stop(.grammarComplete), "\(String(describing: finish))")
        #expect(!ids.dropLast().contains(2))
        var matcher = GrammarMatcher(grammar: grammar)
        #expect(matcher.accept(bytes: Array(text.utf8)) && matcher.canEnd)
    }

    @Test func gbnfCompletesWithoutEOS() throws {
        let grammar = try Grammar(gbnf: #"root ::= "Hello" (" world" | " the") "!""#)
        for seed in 1...5 as ClosedRange<UInt64> {
            let (text, finish, ids) = try generate(grammar, seed: seed)
            #expect(text == "Hello world!" || text == "Hello the!")
            #expect(finish == .stop(.grammarComplete))
            #expect(!ids.contains(2))
        }
    }

    /// Top-k, top-p and min-p keep only EOS of these logits, which the grammar forbids until the end: they must
    /// choose among the tokens the grammar allows instead (as llama.cpp's grammar-first resampling does), never
    /// leave nothing to sample. Top-k of 1 is then the masked arg-max, the same tokens as greedy decoding.
    @Test func truncationChoosesAmongAllowedTokens() throws {
        let grammar = try Grammar(gbnf: #"root ::= "Hello" (" world" | " the") "!""#)
        for seed in 1...4 as ClosedRange<UInt64> {
            let greedy = try generate(grammar, seed: seed) { $0.temperature = 0 }
            let topK = try generate(grammar, seed: seed) { $0.topK = 1 }
            #expect(topK.ids == greedy.ids, "seed \(seed)")
            for configure in [{ (p: inout GenerationParameters) in p.topP = 0.5 }, { $0.minP = 0.5 }, { $0.topK = 3; $0.topP = 0.9 }] {
                let (text, finish, _) = try generate(grammar, seed: seed, configure: configure)
                var matcher = GrammarMatcher(grammar: grammar)
                #expect(matcher.accept(bytes: Array(text.utf8)) && matcher.canEnd, "\(text)")
                #expect(finish == .stop(.grammarComplete) || finish == .stop(.eos(tokenId: 2)), "\(String(describing: finish))")
            }
        }
    }

    @Test func lengthLimitCutsAnUnfinishedMatch() throws {
        let grammar = try JSONSchemaGrammar.grammar(schema: #"{"type": "array", "items": {"type": "string"}, "minItems": 50}"#)
        let (text, finish, ids) = try generate(grammar, seed: 9, maxTokens: 12)
        #expect(finish == .length)
        #expect(ids.count == 12)
        #expect(text.hasPrefix("["))
    }

    /// A lazy constraint over seeded random logits with EOS ranked first: `forced` puts one token first at the
    /// given steps, and every `#`-bearing token is banned elsewhere, so the trigger appears only where forced.
    func generateLazy(_ grammar: Grammar, trigger: String, forced: [Int: Int], seed: UInt64) throws -> (text: String, finish: FinishReason?) {
        var parameters = GenerationParameters()
        parameters.temperature = 1
        parameters.seed = seed
        parameters.maxNewTokens = 40
        let tokenizer = tokenizer
        let constraint = OutputConstraint(grammar: grammar, vocabulary: vocabulary, trigger: trigger) {
            Array(tokenizer.decode([$0], skipSpecialTokens: false).utf8)
        }
        var state = try GenerationState(tokenizer: tokenizer, promptTokens: [1], parameters: try parameters.validated(), eosTokenIds: [2],
                                        contextLength: 1024, constraint: constraint)
        var rng = SeededRandom(seed: seed)
        var text = ""
        let hashes = [3 + 0x23, FakeTokenizer.word("#"), FakeTokenizer.word("##"), FakeTokenizer.word(" ###")]
        var step = 0
        while state.finish == nil {
            var logits = (0..<tokenizer.vocabularySize).map { _ in Float(Double(rng.next() % 1000) / 250) }
            for id in hashes { logits[id] = -.infinity }
            logits[2] = 50
            if let id = forced[step] { logits[id] = 100 }
            if case .token(_, let piece) = try state.next(logits: &logits) { text += piece }
            step += 1
        }
        return (text, state.finish)
    }

    /// Free text until the trigger (here split over two tokens), then only what the grammar allows: EOS, which
    /// outranks everything, is refused until the grammar completes.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func lazyGrammarAppliesFromItsTrigger(seed: UInt64) throws {
        let grammar = try Grammar(gbnf: ###"root ::= "##" " the" "!""###)
        let hash = FakeTokenizer.word("#")
        // EOS outranks the rest, so free text would end at once: the first steps force other text.
        let forced = [0: FakeTokenizer.word("Hello"), 1: FakeTokenizer.word(" world"), 2: hash, 3: hash]
        let (text, finish) = try generateLazy(grammar, trigger: "##", forced: forced, seed: seed)
        #expect(text == "Hello world## the!")
        #expect(finish == .stop(.grammarComplete))
    }

    /// Before the trigger the output is not constrained (EOS ends it), and a trigger the grammar rejects in the
    /// same token ("###" against "##" then " the") leaves it unconstrained.
    @Test func lazyGrammarWithoutItsTriggerOrRejectingItIsOff() throws {
        let grammar = try Grammar(gbnf: ###"root ::= "##" " the" "!""###)
        let plain = try generateLazy(grammar, trigger: "##", forced: [0: FakeTokenizer.word("Hello")], seed: 4)
        #expect(plain.text == "Hello")
        #expect(plain.finish == .stop(.eos(tokenId: 2)))
        let rejected = try generateLazy(grammar, trigger: "##", forced: [0: FakeTokenizer.word("Hello"), 1: FakeTokenizer.word(" ###")],
                                        seed: 4)
        #expect(rejected.text == "Hello ###")
        #expect(rejected.finish == .stop(.eos(tokenId: 2)))
    }
}
