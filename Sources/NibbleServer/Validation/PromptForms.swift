/// One prompt as a request gives it, before tokenization.
enum PromptForm: Equatable, Sendable {
    case text(String)
    case tokens([Int])
    /// llama.cpp's mixed prompt: strings (tokenized) and token ids, in order.
    case mixed([PromptPiece])
}

/// A part of a llama.cpp mixed prompt.
enum PromptPiece: Equatable, Sendable {
    case text(String)
    case token(Int)
}

/// OpenAI `prompt`: a string, a list of strings, a list of token ids, or a list of token-id lists. Every prompt
/// gets its own choices (`n` each), in order.
struct CompletionPrompts: Decodable, Equatable {
    var prompts: [PromptForm]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            prompts = [.text(text)]
        } else if let tokens = try? container.decode([Int].self) {
            prompts = [.tokens(tokens)]
        } else if let texts = try? container.decode([String].self) {
            prompts = texts.map { .text($0) }
        } else if let lists = try? container.decode([[Int]].self) {
            prompts = lists.map { .tokens($0) }
        } else {
            throw DecodingError.typeMismatch(String.self, .init(
                codingPath: decoder.codingPath,
                debugDescription: "expected a string, a list of strings, a list of token ids or a list of token-id lists"))
        }
    }
}

/// llama.cpp `prompt`: a string, token ids, or a list mixing strings and token ids (`[12, 34, "text", 56]`) —
/// or several prompts, a list of strings and such lists (`["a", [12, 34], [5, "b"]]`), answered with a list of
/// results as llama.cpp answers them.
struct LlamaPrompt: Decodable, Equatable {
    /// One prompt, or several in order.
    var prompts: [PromptForm]

    private enum Element: Decodable {
        case text(String), token(Int), list([PromptPiece])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let token = try? container.decode(Int.self) {
                self = .token(token)
            } else if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .list(try container.decode([Element].self).map { element throws -> PromptPiece in
                    switch element {
                    case .text(let text): return .text(text)
                    case .token(let id): return .token(id)
                    case .list: throw DecodingError.dataCorrupted(.init(
                        codingPath: decoder.codingPath, debugDescription: "a prompt list holds strings and token ids"))
                    }
                })
            }
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            prompts = [.text(text)]
            return
        }
        let elements = try container.decode([Element].self)
        if elements.contains(where: { if case .token = $0 { true } else { false } }) {
            // Any token id makes the list one mixed prompt, as llama.cpp reads it.
            prompts = [.mixed(try elements.map { element throws -> PromptPiece in
                switch element {
                case .text(let text): return .text(text)
                case .token(let id): return .token(id)
                case .list: throw DecodingError.dataCorrupted(.init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a prompt of token ids cannot hold a list (several prompts are a list of strings and lists)"))
                }
            })]
        } else if elements.isEmpty {
            prompts = [.tokens([])]
        } else {
            prompts = elements.map { element -> PromptForm in
                switch element {
                case .text(let text): return .text(text)
                case .list(let pieces): return .mixed(pieces)
                case .token(let id): return .tokens([id])  // not reached: token ids make one prompt above
                }
            }
        }
    }
}
