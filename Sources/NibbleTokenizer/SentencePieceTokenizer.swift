import Foundation

/// A tokenizer read from a SentencePiece `tokenizer.model`, encoding and decoding the way the SentencePiece
/// library does (BPE by piece score, or unigram Viterbi), with byte fallback.
public struct SentencePieceTokenizer: Tokenizer {
    /// The parsed model.
    public let model: SentencePieceModel
    /// Normal and user-defined pieces, the only ones segmentation may produce directly.
    let segmentable: [String: Int]
    /// Every piece, for `tokenId(for:)`.
    let pieceToId: [String: Int]
    /// User-defined pieces, longest first; they are never split.
    let userDefined: [String]
    /// Id of `<0xNN>` for every byte, when byte fallback is on and all 256 exist.
    let byteIds: [Int]?
    /// Longest piece in Unicode scalars (bounds the unigram lattice).
    let maxPieceLength: Int
    /// Score given to an unknown character in the unigram lattice.
    let unknownScore: Float

    /// BOS id: `bos_token` from the config, else the model's own.
    public let bosTokenId: Int?
    /// EOS id: `eos_token` from the config, else the model's own.
    public let eosTokenId: Int?
    /// Whether `encode(_:addSpecialTokens: true)` prepends BOS (`add_bos_token`, default true).
    public let addsBosToken: Bool
    /// Whether `encode(_:addSpecialTokens: true)` appends EOS (tokenizer_config `add_eos_token`).
    public let addsEosToken: Bool

    /// Number of ids, including added tokens.
    public var vocabularySize: Int { model.pieces.count }

    /// Loads `tokenizer.model` bytes. `config` supplies `add_bos_token` etc.; LLaMA defaults (BOS on, EOS off)
    /// apply where it is silent.
    public init(modelData: Data, config: TokenizerConfig = TokenizerConfig(), file: String = "tokenizer.model") throws {
        try self.init(model: SentencePieceModel.parse(modelData, file: file), config: config, file: file)
    }

    /// A tokenizer over an already-built model (e.g. one assembled from GGUF metadata); `file` labels errors.
    public init(model: SentencePieceModel, config: TokenizerConfig = TokenizerConfig(), file: String) throws {
        guard model.modelType == .bpe || model.modelType == .unigram else {
            throw TokenizerError.unsupportedModel(file, type: "\(model.modelType)")
        }
        self.model = model
        var segmentable: [String: Int] = [:]
        var all: [String: Int] = [:]
        var userDefined: [String] = []
        var maxLength = 1
        var minScore = Float.greatestFiniteMagnitude
        for (id, piece) in model.pieces.enumerated() {
            if all[piece.piece] == nil { all[piece.piece] = id }
            switch piece.type {
            case .normal, .userDefined:
                if segmentable[piece.piece] == nil { segmentable[piece.piece] = id }
                maxLength = max(maxLength, piece.piece.unicodeScalars.count)
                if piece.type == .userDefined { userDefined.append(piece.piece) }
                if piece.type == .normal { minScore = min(minScore, piece.score) }
            default:
                break
            }
        }
        self.segmentable = segmentable
        self.pieceToId = all
        self.userDefined = userDefined.filter { !$0.isEmpty }.sorted { $0.utf8.count > $1.utf8.count }
        self.maxPieceLength = maxLength
        self.unknownScore = (minScore == .greatestFiniteMagnitude ? 0 : minScore) - 10
        var bytes: [Int] = []
        if model.byteFallback {
            for b in 0...255 {
                guard let id = all[ByteTokens.name(UInt8(b))], model.pieces[id].type == .byte else { break }
                bytes.append(id)
            }
        }
        self.byteIds = bytes.count == 256 ? bytes : nil

        func lookup(_ token: String?, fallback: Int) -> Int? {
            if let token, let id = all[token] { return id }
            return fallback >= 0 && fallback < model.pieces.count ? fallback : nil
        }
        bosTokenId = lookup(config.bosToken, fallback: model.bosId)
        eosTokenId = lookup(config.eosToken, fallback: model.eosId)
        addsBosToken = (config.addBosToken ?? true) && bosTokenId != nil
        addsEosToken = (config.addEosToken ?? false) && eosTokenId != nil
    }

    /// Loads `tokenizer.model` (and the optional configs) from a model directory.
    public init(directory: URL) throws {
        let url = directory.appendingPathComponent("tokenizer.model")
        try self.init(modelData: readFile(url), config: TokenizerConfig.load(directory: directory), file: url.path)
    }

    /// The id of a token string (vocabulary or added token).
    public func tokenId(for token: String) -> Int? { pieceToId[token] }

    /// The stored token string of an id.
    public func tokenString(for id: Int) -> String? {
        model.pieces.indices.contains(id) ? model.pieces[id].piece : nil
    }

    /// Whether `decode(_:skipSpecialTokens: true)` drops this id.
    public func isSpecial(_ id: Int) -> Bool {
        guard model.pieces.indices.contains(id) else { return false }
        let type = model.pieces[id].type
        return type == .control || type == .unknown
    }

    // MARK: - Encoding

    /// Encodes text; `addSpecialTokens` adds BOS/EOS as configured.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids: [Int] = []
        if addSpecialTokens, addsBosToken, let bosTokenId { ids.append(bosTokenId) }
        let normalized = normalize(text)
        if !normalized.isEmpty {
            let bytes = Array(normalized.utf8)
            let symbols = initialSymbols(bytes)
            let pieces = model.modelType == .bpe ? mergeBPE(bytes, symbols) : viterbi(bytes, symbols)
            emit(pieces, bytes: bytes, into: &ids)
        }
        if addSpecialTokens, addsEosToken, let eosTokenId { ids.append(eosTokenId) }
        return ids
    }

    /// SentencePiece normalization: optional NFKC-like mapping, whitespace cleanup, dummy prefix, "▁" escaping.
    func normalize(_ text: String) -> String {
        var text = text
        if model.hasPrecompiledCharsmap || model.normalizerName.lowercased().contains("nfkc") {
            text = text.precomposedStringWithCompatibilityMapping
        }
        if model.removeExtraWhitespaces {
            var out = String.UnicodeScalarView()
            var lastWasSpace = true  // drops leading spaces
            for scalar in text.unicodeScalars {
                if scalar == " " {
                    if !lastWasSpace { out.append(scalar) }
                    lastWasSpace = true
                } else {
                    out.append(scalar)
                    lastWasSpace = false
                }
            }
            while out.last == " " { out.removeLast() }
            text = String(out)
        }
        if text.isEmpty { return text }
        if model.addDummyPrefix {
            text = model.treatWhitespaceAsSuffix ? text + " " : " " + text
        }
        if model.escapeWhitespaces {
            // Per scalar, as SentencePiece does: a grapheme-level replace would miss a space that a following
            // combining mark joins into one Character.
            text = text.replacingScalars(" ", with: "\u{2581}")
        }
        return text
    }

    /// Byte ranges of the starting symbols: one per character, user-defined pieces kept whole.
    private func initialSymbols(_ bytes: [UInt8]) -> [Range<Int>] {
        var symbols: [Range<Int>] = []
        symbols.reserveCapacity(bytes.count)
        var i = 0
        outer: while i < bytes.count {
            for piece in userDefined {
                let p = piece.utf8
                if p.count <= bytes.count - i, bytes[i..<(i + p.count)].elementsEqual(p) {
                    symbols.append(i..<(i + p.count))
                    i += p.count
                    continue outer
                }
            }
            var length = utf8Length(bytes[i])
            length = min(length, bytes.count - i)
            symbols.append(i..<(i + length))
            i += length
        }
        return symbols
    }

    private func utf8Length(_ firstByte: UInt8) -> Int {
        switch firstByte {
        case 0..<0x80: return 1
        case 0xC0..<0xE0: return 2
        case 0xE0..<0xF0: return 3
        case 0xF0..<0xF8: return 4
        default: return 1
        }
    }

    private func pieceId(_ bytes: [UInt8], _ range: Range<Int>) -> Int? {
        segmentable[String(decoding: bytes[range], as: UTF8.self)]
    }

    /// SentencePiece BPE: repeatedly merge the adjacent pair whose concatenation is a piece with the best score.
    private func mergeBPE(_ bytes: [UInt8], _ initial: [Range<Int>]) -> [Range<Int>] {
        var ranges = initial
        let n = ranges.count
        guard n > 1 else { return ranges }
        var next = Array(1...n)
        next[n - 1] = -1
        var prev = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        // Highest score first, leftmost on ties, as the reference orders its agenda.
        var heap = MergeQueue()
        heap.reserveCapacity(n)

        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let merged = ranges[left].lowerBound..<ranges[right].upperBound
            guard let id = pieceId(bytes, merged) else { return }
            heap.push(key: MergeQueue.key(priority: MergeQueue.descending(model.pieces[id].score), position: left),
                      payload: Int32(merged.count))
        }

        for i in 0..<(n - 1) { consider(i, i + 1) }
        while let top = heap.pop() {
            let left = Int(UInt32(truncatingIfNeeded: top.key))
            let right = next[left]
            // Symbols only grow, so an entry is stale exactly when the pair's combined length changed.
            guard alive[left], right >= 0, ranges[left].count + ranges[right].count == Int(top.payload) else {
                continue
            }
            ranges[left] = ranges[left].lowerBound..<ranges[right].upperBound
            alive[right] = false
            next[left] = next[right]
            if next[right] >= 0 { prev[next[right]] = left }
            consider(prev[left], left)
            consider(left, next[left])
        }
        var out: [Range<Int>] = []
        var i = 0
        while i >= 0 {
            out.append(ranges[i])
            i = next[i]
        }
        return out
    }

    /// Unigram: the segmentation with the highest total piece score (Viterbi over character positions).
    private func viterbi(_ bytes: [UInt8], _ symbols: [Range<Int>]) -> [Range<Int>] {
        let n = symbols.count
        var bestScore = [Float](repeating: -.infinity, count: n + 1)
        var bestStart = [Int](repeating: -1, count: n + 1)
        bestScore[0] = 0
        for i in 0..<n where bestScore[i] > -.infinity {
            var matchedSingle = false
            for length in 1...min(maxPieceLength, n - i) {
                let range = symbols[i].lowerBound..<symbols[i + length - 1].upperBound
                guard let id = pieceId(bytes, range) else { continue }
                if length == 1 { matchedSingle = true }
                let piece = model.pieces[id]
                let score = bestScore[i] + (piece.type == .userDefined ? 0 : piece.score)
                if score > bestScore[i + length] {
                    bestScore[i + length] = score
                    bestStart[i + length] = i
                }
            }
            if !matchedSingle {
                let score = bestScore[i] + unknownScore
                if score > bestScore[i + 1] {
                    bestScore[i + 1] = score
                    bestStart[i + 1] = i
                }
            }
        }
        var out: [Range<Int>] = []
        var end = n
        while end > 0 {
            let start = bestStart[end]
            guard start >= 0 else { break }
            out.append(symbols[start].lowerBound..<symbols[end - 1].upperBound)
            end = start
        }
        return out.reversed()
    }

    /// Maps segments to ids; pieces outside the vocabulary become byte pieces or the unknown id
    /// (consecutive unknowns fused into one, as the reference does).
    private func emit(_ segments: [Range<Int>], bytes: [UInt8], into ids: inout [Int]) {
        var lastWasUnknown = false
        for range in segments {
            if let id = pieceId(bytes, range) {
                ids.append(id)
                lastWasUnknown = false
            } else if let byteIds {
                for b in bytes[range] { ids.append(byteIds[Int(b)]) }
                lastWasUnknown = false
            } else {
                if !lastWasUnknown { ids.append(model.unkId) }
                lastWasUnknown = true
            }
        }
    }

    // MARK: - Decoding

    /// Decodes ids; out-of-range ids are ignored.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var out = ""
        var pendingBytes: [UInt8] = []
        var atStart = true
        let stripFirst = !model.treatWhitespaceAsSuffix && (model.addDummyPrefix || model.removeExtraWhitespaces)
        for id in ids {
            guard model.pieces.indices.contains(id) else { continue }
            let piece = model.pieces[id]
            switch piece.type {
            case .byte:
                if let value = ByteTokens.value(piece.piece) {
                    pendingBytes.append(value)
                    atStart = false
                    continue
                }
            case .control, .unknown:
                if skipSpecialTokens { continue }
                flushBytes(&pendingBytes, into: &out)
                out += piece.piece
                atStart = false
                continue
            default:
                break
            }
            flushBytes(&pendingBytes, into: &out)
            var text = piece.piece
            if atStart && stripFirst && text.unicodeScalars.first == "\u{2581}" {
                text = String(String.UnicodeScalarView(text.unicodeScalars.dropFirst()))
            }
            atStart = false
            out += text.replacingScalars("\u{2581}", with: " ")
        }
        flushBytes(&pendingBytes, into: &out)
        return out
    }

    /// Byte pieces are assembled into UTF-8; each byte that is not part of a valid character becomes U+FFFD.
    private func flushBytes(_ bytes: inout [UInt8], into out: inout String) {
        guard !bytes.isEmpty else { return }
        var i = 0
        while i < bytes.count {
            let length = utf8Length(bytes[i])
            if i + length <= bytes.count, let text = String(validating: bytes[i..<(i + length)], as: UTF8.self) {
                out += text
                i += length
            } else {
                out += "\u{FFFD}"
                i += 1
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }
}
