import Foundation
import NibbleTestSupport
import Testing
@testable import NibbleTokenizer

/// Prompt ids and greedy continuations recorded with transformers for the test models.
@Suite struct ModelReferenceTests {
    static let combinations: [(String, String, TokenizerSource)] = [
        ("kjv-llama-4m-fp32.json", "kjv-llama-4m", .json),
        ("kjv-llama-4m-fp32.json", "kjv-llama-4m", .sentencepiece),
        ("llama-tiny-fp32.json", "llama-tiny", .json),
        ("llama-tiny-fp32.json", "llama-tiny", .sentencepiece),
    ]

    @Test(arguments: combinations)
    func promptsAndGreedyText(reference: String, model: String, source: TokenizerSource) throws {
        let tokenizer = try #require(Loaded.tokenizer(model: model, source: source))
        let ref = try SharedFixtures.decodeReference(ModelReference.self, reference)
        #expect(!ref.cases.isEmpty)
        var checkedText = 0
        for c in ref.cases {
            #expect(tokenizer.encode(c.prompt, addSpecialTokens: true) == c.input_ids, "prompt: \(c.prompt)")
            #expect(tokenizer.decode(c.input_ids, skipSpecialTokens: true) == c.prompt)
            if let newIds = c.greedy_new_ids, let text = c.greedy_text {
                #expect(tokenizer.decode(newIds, skipSpecialTokens: true) == text, "prompt: \(c.prompt)")
                #expect(streamChunks(tokenizer, newIds).joined() == text)
                checkedText += 1
            }
        }
        #expect(checkedText == ref.cases.count)
    }
}
