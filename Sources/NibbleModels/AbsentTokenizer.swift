import NibbleTokenizer

/// Stands in for the tokenizer of a checkpoint saved without tokenizer files (transformers' `save_pretrained`
/// of a model alone), so its weights can still be loaded and inspected. Encodes nothing, decodes to "".
struct AbsentTokenizer: Tokenizer {
    let vocabularySize: Int
    let bosTokenId: Int?
    let eosTokenId: Int?
    var addsBosToken: Bool { false }

    func encode(_ text: String, addSpecialTokens: Bool) -> [Int] { [] }
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String { "" }
    func tokenId(for token: String) -> Int? { nil }
    func tokenString(for id: Int) -> String? { nil }
    func isSpecial(_ id: Int) -> Bool { id == bosTokenId || id == eosTokenId }
}
