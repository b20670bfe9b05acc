/// Turns text into token ids and back.
///
/// Implementations: `HFTokenizer` (tokenizer.json) and `SentencePieceTokenizer` (tokenizer.model).
/// `Tokenizers.load(directory:)` picks one for a model directory.
public protocol Tokenizer: Sendable {
    /// Number of ids the tokenizer can produce (including added tokens).
    var vocabularySize: Int { get }
    /// Beginning-of-sequence id, if the tokenizer has one.
    var bosTokenId: Int? { get }
    /// End-of-sequence id, if the tokenizer has one.
    var eosTokenId: Int? { get }
    /// Whether `encode(_:addSpecialTokens: true)` prepends BOS (tokenizer_config `add_bos_token`).
    var addsBosToken: Bool { get }

    /// Encodes text. With `addSpecialTokens`, BOS is prepended when the tokenizer config asks for it.
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]

    /// Decodes ids to text, as the reference libraries do (`skipSpecialTokens` drops `<s>`, `</s>`, …).
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String

    /// The id of a token string (`"</s>"`, `"###"`), if it is a single token.
    func tokenId(for token: String) -> Int?

    /// The token string of an id, as stored in the vocabulary (`"▁the"`, `"<0x0A>"`).
    func tokenString(for id: Int) -> String?

    /// Whether an id is a special/control token (BOS, EOS, UNK, added special tokens).
    ///
    /// Must be exactly the set `decode(_:skipSpecialTokens: true)` drops, and dropping them must not change how
    /// the remaining ids decode: `StreamingDetokenizer` relies on both.
    func isSpecial(_ id: Int) -> Bool
}

extension Tokenizer {
    /// Whether `id` is a byte-fallback piece (`<0xNN>`), whose text depends on the bytes around it.
    public func isByteFallbackToken(_ id: Int) -> Bool {
        guard let token = tokenString(for: id) else { return false }
        return ByteTokens.value(token) != nil
    }

    /// Encodes with BOS/EOS as the tokenizer config asks (`addSpecialTokens: true`).
    public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }

    /// Decodes, dropping special tokens.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: true) }
}

