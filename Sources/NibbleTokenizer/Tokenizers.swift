import Foundation

/// Which tokenizer file to read from a model directory.
public enum TokenizerSource: Sendable, Equatable {
    /// `tokenizer.json` if present, else `tokenizer.model`.
    case automatic
    /// Only `tokenizer.json`.
    case json
    /// Only the SentencePiece `tokenizer.model`.
    case sentencepiece
}

/// Entry point for loading a model directory's tokenizer.
public enum Tokenizers {
    /// Loads the tokenizer of a Hugging Face model directory, honouring `tokenizer_config.json` and
    /// `special_tokens_map.json` when present.
    ///
    /// With `.automatic`, `tokenizer.json` is preferred; if it uses an unsupported model or component and a
    /// `tokenizer.model` exists, that is used instead.
    ///
    /// - Throws: `TokenizerError` naming the file and the problem; never traps on bad input.
    public static func load(directory: URL, prefer: TokenizerSource = .automatic) throws -> any Tokenizer {
        let jsonURL = directory.appendingPathComponent("tokenizer.json")
        let modelURL = directory.appendingPathComponent("tokenizer.model")
        let fm = FileManager.default
        switch prefer {
        case .json:
            return try HFTokenizer(directory: directory)
        case .sentencepiece:
            return try SentencePieceTokenizer(directory: directory)
        case .automatic:
            let hasModel = fm.fileExists(atPath: modelURL.path)
            if fm.fileExists(atPath: jsonURL.path) {
                do {
                    return try HFTokenizer(directory: directory)
                } catch let error as TokenizerError where hasModel && error.isUnsupportedFeature {
                    // A tokenizer.json using features this reader lacks is still usable through tokenizer.model.
                    return try SentencePieceTokenizer(directory: directory)
                }
            }
            if hasModel { return try SentencePieceTokenizer(directory: directory) }
            throw TokenizerError.missingFile(
                directory.appendingPathComponent("tokenizer.json").path + " (or tokenizer.model)")
        }
    }
}
