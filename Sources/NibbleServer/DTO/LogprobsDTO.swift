import NibbleGeneration
import NibbleTokenizer

// MARK: - Request fields

/// `/v1/completions` fields about choices: `logprobs` (alternatives per token, 0–20) and `logit_bias`.
struct CompletionChoiceFieldsDTO: Decodable {
    var logprobs: Int?
    var logitBias: [String: Double]?

    enum CodingKeys: String, CodingKey, CaseIterable { case logprobs, logitBias = "logit_bias" }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // `false` asks for nothing, as null does; `true` has no count, so it is a type error.
        if let count = try? container.decodeIfPresent(Int.self, forKey: .logprobs) {
            logprobs = count
        } else if (try? container.decodeIfPresent(Bool.self, forKey: .logprobs)) == false {
            logprobs = nil
        } else {
            logprobs = try container.decodeIfPresent(Int.self, forKey: .logprobs)
        }
        logitBias = try container.decodeIfPresent([String: Double].self, forKey: .logitBias)
    }
}

/// `/v1/chat/completions` fields about choices: `logprobs` (true/false), `top_logprobs` (0–20), `logit_bias`.
struct ChatChoiceFieldsDTO: Decodable {
    var logprobs: Bool?
    var topLogprobs: Int?
    var logitBias: [String: Double]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case logprobs, topLogprobs = "top_logprobs", logitBias = "logit_bias"
    }
}

/// llama.cpp `logit_bias`: a list of `[token, bias]` pairs or an object `{"token": bias}`; a token is an id or
/// a string (each of its tokens gets the bias), a bias a number or `false` (never pick the token).
struct LlamaLogitBiasDTO: Decodable {
    enum Target: Equatable { case token(Int), text(String) }
    enum Bias: Equatable { case add(Double), ban }
    var entries: [(target: Target, bias: Bias)]

    private struct Value: Decodable {
        var bias: Bias
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                guard !flag else {
                    throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                            debugDescription: "a bias is a number, or false to ban the token"))
                }
                bias = .ban
            } else {
                bias = .add(try container.decode(Double.self))
            }
        }
    }

    private struct Pair: Decodable {
        var target: Target
        var bias: Bias
        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            if let id = try? container.decode(Int.self) {
                target = .token(id)
            } else {
                target = .text(try container.decode(String.self))
            }
            bias = try container.decode(Value.self).bias
            guard container.isAtEnd else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected [token, bias]"))
            }
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let object = try? container.decode([String: Value].self) {
            entries = object.sorted { $0.key < $1.key }.map { key, value in
                (target: Int(key).map(Target.token) ?? Target.text(key), bias: value.bias)
            }
        } else {
            entries = try container.decode([Pair].self).map { (target: $0.target, bias: $0.bias) }
        }
    }
}

// MARK: - Response shapes

/// Writes log-probabilities in JSON: a `-infinity` (a token that cannot occur) is written as vLLM writes it.
private func wireLogprob(_ value: Double) -> Double { value.isFinite ? value : -9999 }

/// How tokens read in logprobs: the text each adds in the middle of a sequence (a SentencePiece `▁` is its space,
/// a byte that is part of a UTF-8 character reads as U+FFFD), and its bytes. Special tokens read as their text.
struct TokenSpelling {
    let tokenizer: any Tokenizer

    func text(_ id: Int) -> String {
        if let bytes = tokenizer.tokenBytes(id) { return String(decoding: bytes, as: UTF8.self) }
        return tokenizer.decode([id], skipSpecialTokens: false)
    }

    func bytes(_ id: Int) -> [Int] {
        (tokenizer.tokenBytes(id) ?? Array(tokenizer.decode([id], skipSpecialTokens: false).utf8)).map { Int($0) }
    }
}

/// OpenAI's legacy `choices[].logprobs` of `/v1/completions`.
struct CompletionLogprobsDTO: Encodable, Equatable {
    var tokens: [String] = []
    var tokenLogprobs: [Double?] = []
    /// Per token, the `logprobs` most likely tokens and the token itself, by text.
    var topLogprobs: [[String: Double]?] = []
    /// Where each token starts in the text the choice returns (prompt included with `echo`), in characters.
    var textOffset: [Int] = []

    enum CodingKeys: String, CodingKey {
        case tokens, tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs", textOffset = "text_offset"
    }

    /// Appends a token with no log-probability (the prompt's first: nothing predicts it).
    mutating func appendUnscored(_ id: Int, spelling: TokenSpelling, offset: inout Int) {
        let text = spelling.text(id)
        tokens.append(text)
        tokenLogprobs.append(nil)
        topLogprobs.append(nil)
        textOffset.append(offset)
        offset += text.count
    }

    mutating func append(_ logprob: TokenLogprob, spelling: TokenSpelling, offset: inout Int) {
        let text = spelling.text(logprob.tokenId)
        tokens.append(text)
        tokenLogprobs.append(wireLogprob(logprob.logprob))
        var top: [String: Double] = [:]
        for alternative in logprob.top { top[spelling.text(alternative.tokenId)] = wireLogprob(alternative.logprob) }
        top[text] = wireLogprob(logprob.logprob)
        topLogprobs.append(top)
        textOffset.append(offset)
        offset += text.count
    }

    var isEmpty: Bool { tokens.isEmpty }
}

/// OpenAI chat `choices[].logprobs`.
struct ChatLogprobsDTO: Encodable, Equatable {
    struct Top: Encodable, Equatable {
        var token: String
        var logprob: Double
        var bytes: [Int]
    }

    struct Entry: Encodable, Equatable {
        var token: String
        var logprob: Double
        var bytes: [Int]
        var topLogprobs: [Top]

        enum CodingKeys: String, CodingKey { case token, logprob, bytes, topLogprobs = "top_logprobs" }
    }

    var content: [Entry]

    init(_ logprobs: [TokenLogprob], spelling: TokenSpelling) {
        content = logprobs.map { entry in
            Entry(token: spelling.text(entry.tokenId), logprob: wireLogprob(entry.logprob), bytes: spelling.bytes(entry.tokenId),
                  topLogprobs: entry.top.map {
                      Top(token: spelling.text($0.tokenId), logprob: wireLogprob($0.logprob), bytes: spelling.bytes($0.tokenId))
                  })
        }
    }
}

/// One entry of llama.cpp's `completion_probabilities` (its format since `n_probs` reports log-probabilities).
struct LlamaTokenProbabilityDTO: Encodable, Equatable {
    struct Top: Encodable, Equatable {
        var id: Int
        var token: String
        var bytes: [Int]
        var logprob: Double
    }

    var id: Int
    var token: String
    var bytes: [Int]
    var logprob: Double
    var topLogprobs: [Top]

    enum CodingKeys: String, CodingKey { case id, token, bytes, logprob, topLogprobs = "top_logprobs" }

    init(_ entry: TokenLogprob, spelling: TokenSpelling) {
        id = entry.tokenId
        token = spelling.text(entry.tokenId)
        bytes = spelling.bytes(entry.tokenId)
        logprob = wireLogprob(entry.logprob)
        topLogprobs = entry.top.map {
            Top(id: $0.tokenId, token: spelling.text($0.tokenId), bytes: spelling.bytes($0.tokenId), logprob: wireLogprob($0.logprob))
        }
    }
}
