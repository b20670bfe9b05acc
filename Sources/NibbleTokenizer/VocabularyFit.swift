extension Tokenizer {
    /// Checks that every id the tokenizer can produce names a row of the model's embeddings, so no prompt can
    /// index past them. The error names the first token beyond the model's vocabulary.
    public func checkFits(modelVocabularySize: Int, source: String) throws {
        guard vocabularySize > modelVocabularySize else { return }
        for id in modelVocabularySize..<vocabularySize {
            guard let token = tokenString(for: id) else { continue }
            throw TokenizerError.invalidVocabulary(
                source, reason: "token '\(token)' has id \(id), beyond the model's vocab_size of \(modelVocabularySize) "
                    + "(config.json); the model has no embedding for it")
        }
        for (name, id) in [("bos", bosTokenId), ("eos", eosTokenId)] {
            if let id, id >= modelVocabularySize {
                throw TokenizerError.invalidVocabulary(source, reason: "\(name) token id \(id) is beyond the model's vocab_size of \(modelVocabularySize)")
            }
        }
    }
}
