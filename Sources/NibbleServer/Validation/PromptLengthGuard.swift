import NibbleModels
import Synchronization

/// Refuses a text prompt far longer than the context before all of it is tokenized, so a huge body costs the
/// event loop only a bounded prefix.
///
/// No token covers more UTF-8 bytes than the longest vocabulary string (`maxTokenBytes`), so a prefix of
/// `(context + margin) · maxTokenBytes` bytes that already encodes to `context + margin` tokens or more proves
/// the whole prompt cannot fit (encoding a longer text never loses more than a few tokens at the cut).
enum PromptLengthGuard {
    /// Tokens of slack for merges across the cut.
    static let margin = 16

    /// Longest vocabulary string in bytes, per tokenizer instance (computed once).
    private static let longest = Mutex<[ObjectIdentifier: Int]>([:])

    /// Tokens of a prefix that already exceeds `context`, or nil when the prompt must be tokenized in full.
    static func tokensOfOversizedPrefix(_ text: String, loaded: LoadedModel) -> Int? {
        let context = loaded.model.maxContextLength
        let key = ObjectIdentifier(loaded.model)
        let maxTokenBytes: Int
        if let known = longest.withLock({ $0[key] }) {
            maxTokenBytes = known
        } else {
            let tokenizer = loaded.tokenizer
            maxTokenBytes = max(1, (0..<tokenizer.vocabularySize).reduce(0) { max($0, tokenizer.tokenString(for: $1)?.utf8.count ?? 0) })
            longest.withLock { $0[key] = maxTokenBytes }
        }
        let (budget, overflow) = (context.addingReportingOverflow(margin).partialValue).multipliedReportingOverflow(by: maxTokenBytes)
        guard !overflow, text.utf8.count > budget else { return nil }
        // A character cut at the end decodes to one replacement character: at most one token more.
        let prefix = String(decoding: text.utf8.prefix(budget), as: UTF8.self)
        let count = loaded.tokenizer.encode(prefix, addSpecialTokens: true).count
        return count >= context + margin ? count : nil
    }
}
