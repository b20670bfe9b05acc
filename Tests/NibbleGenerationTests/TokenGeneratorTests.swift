import Foundation
@testable import NibbleGeneration
import NibbleModels
import NibbleTestFakes
import NibbleTestSupport
import NibbleTokenizer
import Testing

@Suite struct TokenGeneratorTests {
    let tokenizer = FakeTokenizer()

    func run(script: [Int], prompt: String = "Hello", configure: (inout GenerationParameters) -> Void = { _ in },
             cancelAfter: Int? = nil) throws -> (events: [GenerationEvent], result: GenerationResult) {
        var parameters = GenerationParameters()
        parameters.doSample = false
        parameters.maxNewTokens = 32
        configure(&parameters)
        let model = ScriptedModel(script: script)
        let generator = try TokenGenerator(
            model: model, cache: model.makeCache(capacity: 128), tokenizer: tokenizer,
            promptTokens: tokenizer.encode(prompt, addSpecialTokens: true), parameters: try parameters.validated(), eosTokenIds: [2])
        var events: [GenerationEvent] = []
        let result = try generator.run { event in
            events.append(event)
            if let cancelAfter, events.count >= cancelAfter { return .cancel }
            return .proceed
        }
        return (events, result)
    }

    func texts(_ events: [GenerationEvent]) -> [String] {
        events.compactMap { if case .token(_, let text) = $0 { return text } else { return nil } }
    }

    @Test func stopsAtEOSAndReportsUsage() throws {
        let script = [FakeTokenizer.word(" world"), FakeTokenizer.word("!"), 2]
        let (events, result) = try run(script: script)
        #expect(result.text == " world!")
        #expect(result.finishReason == .stop(.eos(tokenId: 2)))
        #expect(result.usage == Usage(promptTokens: 2, completionTokens: 3))
        #expect(result.timings.predictedTokens == 3)
        guard case .done = events.last else { Issue.record("last event is not .done"); return }
        #expect(events.count == 4)
    }

    @Test func stopsAtLength() throws {
        let script = [FakeTokenizer.word(" world"), FakeTokenizer.word("!"), 2]
        let (_, result) = try run(script: script) { $0.maxNewTokens = 2 }
        #expect(result.text == " world!")
        #expect(result.finishReason == .length)
        #expect(result.usage.completionTokens == 2)
    }

    @Test func stopStringSplitAcrossTokensNeverLeaks() throws {
        let script = [FakeTokenizer.word(" world"), FakeTokenizer.word("\n"), FakeTokenizer.word("#"),
                      FakeTokenizer.word("##"), FakeTokenizer.word(" Human"), FakeTokenizer.word(":"),
                      FakeTokenizer.word("!"), 2]
        let (events, result) = try run(script: script) { $0.stopStrings = ["###"] }
        #expect(result.text == " world\n")
        #expect(result.finishReason == .stop(.string("###")))
        #expect(!texts(events).joined().contains("#"))
        #expect(result.usage.completionTokens == 4)
    }

    @Test func heldBackPartialMatchIsFlushedAtEOSAndOnMismatch() throws {
        let script = [FakeTokenizer.word("#"), FakeTokenizer.word("!"), FakeTokenizer.word("#"), 2]
        let (events, result) = try run(script: script) { $0.stopStrings = ["##"] }
        #expect(texts(events) == ["", "#!", "", "#"])
        #expect(result.text == "#!#")
        #expect(result.finishReason == .stop(.eos(tokenId: 2)))
    }

    @Test func heldBackTextIsFlushedAtLength() throws {
        let script = [FakeTokenizer.word("!"), FakeTokenizer.word("#"), FakeTokenizer.word("!")]
        let (_, result) = try run(script: script) { $0.stopStrings = ["##"]; $0.maxNewTokens = 2 }
        #expect(result.text == "!#")
        #expect(result.finishReason == .length)
    }

    @Test func utf8SplitAcrossByteTokensNeverBreaksAChunk() throws {
        let text = "é😀 ok ü"
        let script = FakeTokenizer.bytes(text) + [2]
        let (events, result) = try run(script: script)
        for chunk in texts(events) { #expect(!chunk.contains("\u{FFFD}")) }
        #expect(result.text == text)
        #expect(texts(events).filter { !$0.isEmpty }.count < script.count - 1)  // bytes of a character wait
    }

    @Test func sameSeedSameTokens() throws {
        func sample(seed: UInt64) throws -> [Int] {
            try run(script: []) {
                $0.doSample = true
                $0.temperature = 0.9
                $0.topK = 50
                $0.topP = 0.95
                $0.seed = seed
                $0.maxNewTokens = 20
                $0.ignoreEOS = true
            }.result.tokens
        }
        let first = try sample(seed: 1234)
        #expect(first.count == 20)
        #expect(try sample(seed: 1234) == first)
        #expect(try sample(seed: 99) != first)
    }

    @Test func callbackCancellationStopsAtTheNextToken() throws {
        let (events, result) = try run(script: [], configure: { $0.ignoreEOS = true }, cancelAfter: 3)
        #expect(result.finishReason == .cancelled)
        #expect(events.count == 4)
        #expect(result.usage.completionTokens == 3)
    }

    @Test func rejectsPromptsThatFillTheContext() {
        let model = ScriptedModel(maxContextLength: 4)
        #expect(throws: GenerationError.promptTooLong(promptTokens: 4, contextLength: 4)) {
            try TokenGenerator(model: model, cache: model.makeCache(capacity: 4), tokenizer: tokenizer,
                               promptTokens: [1, 3, 4, 5], parameters: try GenerationParameters().validated(), eosTokenIds: [2])
        }
    }

    @Test func realTokenizerStreamsTheSameTextAsAFullDecode() throws {
        // A missing fixture fails the load with its path: the suite needs NIBBLE_SHARED.
        let directory = SharedFixtures.model("llama-tiny")
        let tokenizer = try Tokenizers.load(directory: directory)
        let reply = "Grüße, 世界! 🎉 ### done"
        let script = tokenizer.encode(reply, addSpecialTokens: false) + [2]
        let model = ScriptedModel(vocabularySize: tokenizer.vocabularySize, script: script)
        var parameters = GenerationParameters()
        parameters.doSample = false
        parameters.maxNewTokens = 64
        parameters.stopStrings = ["###"]
        let prompt = tokenizer.encode("Hi", addSpecialTokens: true)
        let generator = try TokenGenerator(model: model, cache: model.makeCache(capacity: 128), tokenizer: tokenizer,
                                           promptTokens: prompt, parameters: try parameters.validated(), eosTokenIds: [2])
        var chunks: [String] = []
        let result = try generator.run { event in
            if case .token(_, let text) = event { chunks.append(text) }
            return .proceed
        }
        for chunk in chunks { #expect(!chunk.contains("\u{FFFD}")) }
        // The output continues the prompt: what the script adds to the prompt's text (leading space included).
        let head = tokenizer.decode(prompt, skipSpecialTokens: true)
        let full = tokenizer.decode(prompt + script, skipSpecialTokens: true)
        #expect(full.hasPrefix(head))
        let expected = full.dropFirst(head.count)
        #expect(expected.hasPrefix(" "))
        let cut = expected.range(of: "###")!.lowerBound
        #expect(result.text == String(expected[..<cut]))
        #expect(result.finishReason == .stop(.string("###")))
    }
}
