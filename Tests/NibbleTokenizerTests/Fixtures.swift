import Foundation
import NibbleTestSupport
@testable import NibbleTokenizer

/// `reference/tokenizer-llama2-cases.json`.
struct LlamaTokenizerCases: Decodable {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var hf_ids: [Int]
        var decoded: String
    }
    var cases: [Case]
}

/// `reference/<model>-fp32.json` (prompts, their ids with BOS, and a greedy continuation).
struct ModelReference: Decodable {
    struct Case: Decodable {
        var prompt: String
        var input_ids: [Int]
        var greedy_new_ids: [Int]?
        var greedy_text: String?
    }
    var model: String
    var cases: [Case]
}


/// Tokenizers are loaded once per process; the 32k-vocabulary JSON takes a moment to parse.
enum Loaded {
    static let llamaTinyJSON: (any Tokenizer)? = try? Tokenizers.load(directory: SharedFixtures.model("llama-tiny"), prefer: .json)
    static let llamaTinySP: (any Tokenizer)? =
        try? Tokenizers.load(directory: SharedFixtures.model("llama-tiny"), prefer: .sentencepiece)
    static let kjvJSON: (any Tokenizer)? = try? Tokenizers.load(directory: SharedFixtures.model("kjv-llama-4m"), prefer: .json)
    static let kjvSP: (any Tokenizer)? =
        try? Tokenizers.load(directory: SharedFixtures.model("kjv-llama-4m"), prefer: .sentencepiece)

    static let llamaCases: [LlamaTokenizerCases.Case] =
        (try? SharedFixtures.decodeReference(LlamaTokenizerCases.self, "tokenizer-llama2-cases.json"))?.cases ?? []

    static func tokenizer(model: String, source: TokenizerSource) -> (any Tokenizer)? {
        switch (model, source) {
        case ("llama-tiny", .json): return llamaTinyJSON
        case ("llama-tiny", .sentencepiece): return llamaTinySP
        case ("kjv-llama-4m", .json): return kjvJSON
        case ("kjv-llama-4m", .sentencepiece): return kjvSP
        default: return nil
        }
    }
}

/// Feeds ids one at a time and returns the chunks plus the final flush.
func streamChunks(_ tokenizer: any Tokenizer, _ ids: [Int], skipSpecialTokens: Bool = true) -> [String] {
    var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens)
    var chunks = ids.map { stream.append($0) }
    chunks.append(stream.flush())
    return chunks
}
