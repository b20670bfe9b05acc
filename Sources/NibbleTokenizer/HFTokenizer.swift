import Foundation

/// A tokenizer read from a Hugging Face `tokenizer.json` (BPE model), following the tokenizers library's
/// pipeline: added tokens split out → normalizer → pre-tokenizer → BPE → post-processor; decoding runs the
/// declared decoder chain.
public struct HFTokenizer: Tokenizer {
    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let decoder: TokenDecoder?
    /// Token string per id (vocabulary plus added tokens); nil for ids nothing maps to.
    let idToToken: [String?]
    let tokenToId: [String: Int]
    let specialIds: Set<Int>
    /// Added tokens matched on the raw text (`normalized: false`).
    let rawMatcher: AddedTokenMatcher
    /// Added tokens matched after normalization (`normalized: true`).
    let normalizedMatcher: AddedTokenMatcher
    /// Ids `encode(_:addSpecialTokens: true)` puts before and after the text.
    let prefixIds: [Int]
    let suffixIds: [Int]

    /// BOS id: `bos_token` from the config, else the model's own.
    public let bosTokenId: Int?
    /// EOS id: `eos_token` from the config, else the model's own.
    public let eosTokenId: Int?
    /// Whether `encode(_:addSpecialTokens: true)` prepends BOS.
    public var addsBosToken: Bool { bosTokenId.map { prefixIds.contains($0) } ?? false }
    /// Whether `encode(_:addSpecialTokens: true)` appends EOS.
    public var addsEosToken: Bool { eosTokenId.map { suffixIds.contains($0) } ?? false }
    /// Number of ids, including added tokens.
    public var vocabularySize: Int { idToToken.count }

    /// Parses `tokenizer.json` bytes. `config` (tokenizer_config.json) overrides what the post-processor says
    /// about BOS/EOS, as transformers does.
    public init(tokenizerJSON data: Data, config: TokenizerConfig = TokenizerConfig(),
                file: String = "tokenizer.json") throws {
        let parsed = try decodeJSONFile(TokenizerJSON.self, from: data, file: file)
        let section = parsed.model
        switch section.type {
        case "BPE":
            break
        default:
            throw TokenizerError.unsupportedModel(file, type: section.type)
        }
        guard !section.vocab.isEmpty else {
            throw TokenizerError.invalidVocabulary(file, reason: "model.vocab is empty")
        }
        if let dropout = section.dropout, dropout > 0 {
            throw TokenizerError.unsupportedComponent(file, component: "model", type: "BPE dropout \(dropout)")
        }
        model = BPEModel(
            vocab: section.vocab, merges: section.merges, unkToken: section.unkToken, fuseUnk: section.fuseUnk,
            byteFallback: section.byteFallback, ignoreMerges: section.ignoreMerges,
            continuingSubwordPrefix: section.continuingSubwordPrefix, endOfWordSuffix: section.endOfWordSuffix)
        normalizer = try Normalizer.parse(parsed.normalizer, file: file)
        preTokenizer = try PreTokenizer.parse(parsed.preTokenizer, file: file)
        decoder = try TokenDecoder.parse(parsed.decoder, file: file)

        var tokenToId = section.vocab
        let maxId = max(section.vocab.values.max() ?? -1, parsed.addedTokens.map(\.id).max() ?? -1)
        guard maxId < 10_000_000, (section.vocab.values.min() ?? 0) >= 0, (parsed.addedTokens.map(\.id).min() ?? 0) >= 0
        else {
            throw TokenizerError.invalidVocabulary(file, reason: "token ids out of range")
        }
        var idToToken = [String?](repeating: nil, count: maxId + 1)
        for (token, id) in section.vocab { idToToken[id] = token }
        var specialIds = Set<Int>()
        for added in parsed.addedTokens {
            idToToken[added.id] = added.content
            tokenToId[added.content] = added.id
            if added.special { specialIds.insert(added.id) }
        }
        self.idToToken = idToToken
        self.tokenToId = tokenToId
        self.specialIds = specialIds
        rawMatcher = AddedTokenMatcher(parsed.addedTokens.filter { !$0.normalized })
        let normalizer = self.normalizer
        normalizedMatcher = AddedTokenMatcher(parsed.addedTokens.filter(\.normalized)) {
            normalizer?.normalize($0.content) ?? $0.content
        }

        // Post-processor template: special tokens before/after the sequence.
        var templatePrefix: [Int] = []
        var templateSuffix: [Int] = []
        // Newer files wrap the template in a `Sequence` next to a `ByteLevel` offsets fixer.
        let template = parsed.postProcessor.flatMap { post in
            post.typeName == "Sequence"
                ? post["processors"]?.array?.first { $0.typeName == "TemplateProcessing" }
                : post
        }
        if let post = template, post.typeName == "TemplateProcessing", let single = post["single"]?.array {
            var seenSequence = false
            for item in single {
                if item["Sequence"] != nil {
                    seenSequence = true
                } else if let name = item["SpecialToken"]?["id"]?.string {
                    let ids = post["special_tokens"]?[name]?["ids"]?.array?.compactMap(\.int)
                        ?? tokenToId[name].map { [$0] } ?? []
                    if seenSequence { templateSuffix += ids } else { templatePrefix += ids }
                }
            }
        }

        func lookup(_ token: String?) -> Int? { token.flatMap { tokenToId[$0] } }
        let bos = lookup(config.bosToken) ?? templatePrefix.first ?? lookup("<s>")
        let eos = lookup(config.eosToken) ?? lookup("</s>") ?? lookup("<|endoftext|>")
        bosTokenId = bos
        eosTokenId = eos
        if let addBos = config.addBosToken {
            templatePrefix = addBos ? (bos.map { [$0] } ?? []) : []
        }
        if let addEos = config.addEosToken {
            templateSuffix = addEos ? (eos.map { [$0] } ?? []) : []
        }
        prefixIds = templatePrefix
        suffixIds = templateSuffix
    }

    /// Loads `tokenizer.json` (and the optional configs) from a model directory.
    public init(directory: URL) throws {
        let url = directory.appendingPathComponent("tokenizer.json")
        try self.init(tokenizerJSON: readFile(url), config: TokenizerConfig.load(directory: directory), file: url.path)
    }

    /// The id of a token string (vocabulary or added token).
    public func tokenId(for token: String) -> Int? { tokenToId[token] }

    /// The stored token string of an id.
    public func tokenString(for id: Int) -> String? {
        idToToken.indices.contains(id) ? idToToken[id] : nil
    }

    /// Whether `decode(_:skipSpecialTokens: true)` drops this id.
    public func isSpecial(_ id: Int) -> Bool { specialIds.contains(id) }

    /// Encodes text; `addSpecialTokens` adds BOS/EOS as configured.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids: [Int] = addSpecialTokens ? prefixIds : []
        for segment in rawMatcher.split(text, atStart: true) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let raw, let atStart):
                let normalized = normalizer?.normalize(raw) ?? raw
                for part in normalizedMatcher.split(normalized, atStart: atStart) {
                    switch part {
                    case .token(let id):
                        ids.append(id)
                    case .text(let text, let partAtStart):
                        let words = preTokenizer?.split([text], isFirstSegment: partAtStart) ?? [text]
                        for word in words { ids.append(contentsOf: model.encode(word: word)) }
                    }
                }
            }
        }
        if addSpecialTokens { ids += suffixIds }
        return ids
    }

    /// Decodes ids; out-of-range ids are ignored.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard idToToken.indices.contains(id), let token = idToToken[id] else { continue }
            if skipSpecialTokens && specialIds.contains(id) { continue }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens).joined()
    }
}

// MARK: - File layout

/// The parts of tokenizer.json this reader uses.
struct TokenizerJSON: Decodable {
    var addedTokens: [AddedToken]
    var normalizer: JSONValue?
    var preTokenizer: JSONValue?
    var postProcessor: JSONValue?
    var decoder: JSONValue?
    var model: ModelSection

    enum CodingKeys: String, CodingKey {
        case addedTokens = "added_tokens"
        case normalizer
        case preTokenizer = "pre_tokenizer"
        case postProcessor = "post_processor"
        case decoder
        case model
    }

    init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        addedTokens = try c.decodeIfPresent([AddedToken].self, forKey: .addedTokens) ?? []
        normalizer = try c.decodeIfPresent(JSONValue.self, forKey: .normalizer)
        preTokenizer = try c.decodeIfPresent(JSONValue.self, forKey: .preTokenizer)
        postProcessor = try c.decodeIfPresent(JSONValue.self, forKey: .postProcessor)
        self.decoder = try c.decodeIfPresent(JSONValue.self, forKey: .decoder)
        model = try c.decode(ModelSection.self, forKey: .model)
    }

    /// `model`; only BPE fields are read, so other model types decode far enough to be reported by name.
    struct ModelSection: Decodable {
        var type: String
        var vocab: [String: Int] = [:]
        var merges: [(String, String)] = []
        var unkToken: String?
        var fuseUnk = false
        var byteFallback = false
        var ignoreMerges = false
        var continuingSubwordPrefix: String?
        var endOfWordSuffix: String?
        var dropout: Double?

        enum CodingKeys: String, CodingKey {
            case type, vocab, merges, dropout
            case unkToken = "unk_token"
            case fuseUnk = "fuse_unk"
            case byteFallback = "byte_fallback"
            case ignoreMerges = "ignore_merges"
            case continuingSubwordPrefix = "continuing_subword_prefix"
            case endOfWordSuffix = "end_of_word_suffix"
        }

        init(from decoder: any Swift.Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            // Files written before `type` existed are BPE when they have merges.
            type = try c.decodeIfPresent(String.self, forKey: .type)
                ?? (c.contains(.merges) ? "BPE" : "unknown")
            guard type == "BPE" else { return }
            vocab = try c.decode([String: Int].self, forKey: .vocab)
            merges = try c.decodeIfPresent([MergeEntry].self, forKey: .merges)?.map(\.pair) ?? []
            unkToken = try c.decodeIfPresent(String.self, forKey: .unkToken)
            fuseUnk = try c.decodeIfPresent(Bool.self, forKey: .fuseUnk) ?? false
            byteFallback = try c.decodeIfPresent(Bool.self, forKey: .byteFallback) ?? false
            ignoreMerges = try c.decodeIfPresent(Bool.self, forKey: .ignoreMerges) ?? false
            continuingSubwordPrefix = try c.decodeIfPresent(String.self, forKey: .continuingSubwordPrefix)
            endOfWordSuffix = try c.decodeIfPresent(String.self, forKey: .endOfWordSuffix)
            dropout = try c.decodeIfPresent(Double.self, forKey: .dropout)
        }
    }

    /// A merge written as `["a", "b"]` (current format) or `"a b"` (older format).
    struct MergeEntry: Decodable {
        var pair: (String, String)

        init(from decoder: any Swift.Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let parts = try? c.decode([String].self) {
                guard parts.count == 2 else {
                    throw DecodingError.dataCorruptedError(in: c, debugDescription: "merge must have two parts")
                }
                pair = (parts[0], parts[1])
                return
            }
            let line = try c.decode(String.self)
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "merge '\(line)' is not 'a b'")
            }
            pair = (String(parts[0]), String(parts[1]))
        }
    }
}
