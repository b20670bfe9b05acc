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

/// llama.cpp `prompt`: a string, token ids, or a list mixing strings and token ids (`[12, 34, "text", 56]`),
/// one prompt per request. llama.cpp answers a list of several prompts with a list of results; that is refused
/// here (by name) rather than answered with one.
struct LlamaPrompt: Decodable, Equatable {
    var prompt: PromptForm

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
            prompt = .text(text)
            return
        }
        let elements = try container.decode([Element].self)
        let several = DecodingError.dataCorrupted(.init(
            codingPath: decoder.codingPath,
            debugDescription: "one prompt per request on this route (several prompts: use /v1/completions)"))
        if elements.contains(where: { if case .token = $0 { true } else { false } }) {
            // Any token id makes the list one mixed prompt, as llama.cpp reads it.
            prompt = .mixed(try elements.map { element throws -> PromptPiece in
                switch element {
                case .text(let text): return .text(text)
                case .token(let id): return .token(id)
                case .list: throw several
                }
            })
        } else if elements.count == 1 {
            switch elements[0] {
            case .text(let text): prompt = .text(text)
            case .list(let pieces): prompt = .mixed(pieces)
            case .token(let id): prompt = .tokens([id])
            }
        } else if elements.isEmpty {
            prompt = .tokens([])
        } else {
            throw several
        }
    }
}
