/// A field clients send either as one string or as a list (`"stop": "###"` or `"stop": ["###", "\n"]`).
struct StringOrList: Decodable, Equatable {
    var values: [String]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            values = []
        } else if let one = try? container.decode(String.self) {
            values = [one]
        } else {
            values = try container.decode([String].self)
        }
    }
}

/// A prompt as text, a one-element list of text, or token ids (OpenAI and llama.cpp accept all three).
enum PromptInput: Decodable, Equatable {
    case text(String)
    case tokens([Int])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else if let tokens = try? container.decode([Int].self) {
            self = .tokens(tokens)
        } else if let texts = try? container.decode([String].self) {
            guard texts.count == 1 else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: decoder.codingPath,
                    debugDescription: "exactly one prompt per request is supported (got \(texts.count))"))
            }
            self = .text(texts[0])
        } else if let batches = try? container.decode([[Int]].self), batches.count == 1 {
            self = .tokens(batches[0])
        } else {
            throw DecodingError.typeMismatch(String.self, .init(
                codingPath: decoder.codingPath, debugDescription: "expected a string, a list of one string, or token ids"))
        }
    }
}
