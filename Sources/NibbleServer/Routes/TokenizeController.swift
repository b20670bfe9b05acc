import Hummingbird

/// llama.cpp `/tokenize` and `/detokenize`, with the model's own tokenizer.
struct TokenizeController<Context: RequestContext>: Sendable {
    let validator: GenerationValidator
    let body: BodyLimits

    func register(on router: Router<Context>) {
        router.post("/tokenize") { request, _ in try await tokenize(request) }
        router.post("/detokenize") { request, _ in try await detokenize(request) }
    }

    func tokenize(_ request: Request) async throws -> Response {
        var request = request
        let dto = try await JSONBody.decode(TokenizeRequestDTO.self, from: &request, limits: body)
        guard let content = dto.content else { throw APIError.invalidParameter(name: "content", reason: "is required") }
        let (_, loaded) = try validator.resolve(dto.model)
        let tokens = loaded.tokenizer.encode(content, addSpecialTokens: dto.addSpecial ?? false)
        if dto.withPieces == true {
            let pieces = tokens.map { TokenPieceDTO(id: $0, piece: loaded.tokenizer.decode([$0], skipSpecialTokens: false)) }
            return try json(TokenizeWithPiecesResponseDTO(tokens: pieces))
        }
        return try json(TokenizeResponseDTO(tokens: tokens))
    }

    func detokenize(_ request: Request) async throws -> Response {
        var request = request
        let dto = try await JSONBody.decode(DetokenizeRequestDTO.self, from: &request, limits: body)
        let tokens = dto.tokens ?? []
        let (_, loaded) = try validator.resolve(dto.model)
        let vocabulary = loaded.model.vocabularySize
        if let index = tokens.firstIndex(where: { $0 < 0 || $0 >= vocabulary }) {
            throw APIError.invalidParameter(name: "tokens[\(index)]", reason: "is outside the vocabulary (0..<\(vocabulary))")
        }
        return try json(DetokenizeResponseDTO(content: loaded.tokenizer.decode(tokens, skipSpecialTokens: false)))
    }
}
