/// Turns a stream of generated ids into text chunks that are safe to send as they arrive.
///
/// Each chunk is the text that the newest tokens add, computed by decoding a short window of recent tokens
/// (previous step + new ones) twice and taking the difference, so the cost per token does not grow with the
/// sequence. Text that ends in U+FFFD is usually a character still missing bytes, so it is held back: while a run of
/// byte-fallback tokens (`<0xNN>`) goes on, and for up to three further tokens with byte-level (GPT-2 style)
/// vocabularies (the longest a character can still be waiting for). Text is released as soon as it ends on a
/// whole character, so stop strings are seen at the token that completes them even inside a byte run.
/// The concatenation of all chunks plus `flush()` equals `tokenizer.decode(allIds, skipSpecialTokens:)` exactly,
/// including the first-token space rule, for every valid UTF-8 output; only a byte run that later turns out to be
/// invalid UTF-8 can differ, because some decoders then replace the whole run, including bytes already sent.
public struct StreamingDetokenizer: Sendable {
    /// The tokenizer used for decoding.
    public let tokenizer: any Tokenizer
    /// Whether special tokens (BOS, EOS, …) are left out of the text.
    public let skipSpecialTokens: Bool
    /// All text emitted so far.
    public private(set) var text: String = ""
    /// Number of ids appended so far (including skipped special tokens).
    public private(set) var tokenCount = 0

    /// Recent tokens: `window[..<readIndex]` is already emitted and only serves as left context.
    private var window: [Int] = []
    private var readIndex = 0

    /// Creates a detokenizer for one generated sequence.
    /// - Parameter context: the ids just before the generated ones (the prompt's tail). They are never emitted,
    ///   but decoding against them keeps the first generated token's leading space, so prompt + output reads
    ///   as one text (SentencePiece drops that space at the start of a decode).
    public init(tokenizer: any Tokenizer, skipSpecialTokens: Bool = true, context: [Int] = []) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
        let usable = skipSpecialTokens ? context.filter { !tokenizer.isSpecial($0) } : context
        window = Array(usable.suffix(4))
        readIndex = window.count
    }

    /// Adds one id and returns the text it completes (possibly empty). Never returns part of a UTF-8 character.
    public mutating func append(_ id: Int) -> String {
        tokenCount += 1
        // Skipped tokens contribute nothing to the full decode, so they must not anchor the window either.
        if skipSpecialTokens && tokenizer.isSpecial(id) { return "" }
        window.append(id)
        return emitPending(final: false, inByteRun: tokenizer.isByteFallbackToken(id))
    }

    /// Adds several ids and returns the text they complete.
    public mutating func append<S: Sequence>(contentsOf ids: S) -> String where S.Element == Int {
        var out = ""
        for id in ids { out += append(id) }
        return out
    }

    /// Returns any held-back text (an unfinished byte run, rendered as the full decode would render it).
    public mutating func flush() -> String {
        emitPending(final: true)
    }

    private mutating func emitPending(final: Bool, inByteRun: Bool = false) -> String {
        guard readIndex < window.count else { return "" }
        let context = tokenizer.decode(Array(window[..<readIndex]), skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(window, skipSpecialTokens: skipSpecialTokens)
        let contextBytes = context.utf8
        let fullBytes = full.utf8
        // Window boundaries are token boundaries, hence character boundaries, so the byte difference is valid UTF-8.
        var common = 0
        if fullBytes.starts(with: contextBytes) {
            common = contextBytes.count
        } else {
            for (a, b) in zip(contextBytes, fullBytes) {
                guard a == b else { break }
                common += 1
            }
        }
        let chunk = String(decoding: fullBytes.dropFirst(common), as: UTF8.self)
        // A trailing U+FFFD is usually a character still missing bytes: a byte run may complete it with its next
        // byte, and with byte-level vocabularies its tail is at most 3 bytes, so after 3 more tokens it is final.
        if !final && chunk.unicodeScalars.last == "\u{FFFD}" && (inByteRun || window.count - readIndex < 4) {
            return ""
        }
        window.removeFirst(readIndex)
        readIndex = window.count
        text += chunk
        return chunk
    }
}
