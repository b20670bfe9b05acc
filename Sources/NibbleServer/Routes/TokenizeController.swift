import Hummingbird

/// llama.cpp `/tokenize` and `/detokenize` (also in vLLM's shape), and vLLM's `/tokenizer_info`, with the model's
/// own tokenizer.
struct TokenizeController<Context: RequestContext>: Sendable {
    let validator: GenerationValidator
    let body: BodyLimits

    func register(on router: Router<Context>) {
        router.post("/tokenize") { request, _ in try await tokenize(request) }
        router.post("/detokenize") { request, _ in try await detokenize(request) }
        router.get("/tokenizer_info") { request, _ in try tokenizerInfo(model: request.uri.queryParameters.get("model")) }
    }

    func tokenize(_ request: Request) async throws -> Response {
        var request = request
        let dto = try await JSONBody.decode(TokenizeRequestDTO.self, from: &request, limits: body)
        if dto.content != nil && dto.prompt != nil {
            throw APIError.invalidParameter(name: "prompt", reason: "give the text as content or as prompt, not both")
        }
        guard let content = dto.content ?? dto.prompt else {
            throw APIError.invalidParameter(name: "content", reason: "is required")
        }
        if dto.addSpecial != nil && dto.addSpecialTokens != nil {
            throw APIError.invalidParameter(name: "add_special_tokens", reason: "give add_special or add_special_tokens, not both")
        }
        let (_, loaded) = try validator.resolve(dto.model)
        let addSpecial = dto.addSpecial ?? dto.addSpecialTokens ?? false
        let tokens = try await PromptWork.run { loaded.tokenizer.encode(content, addSpecialTokens: addSpecial) }
        if dto.withPieces == true {
            let pieces = tokens.map { TokenPieceDTO(id: $0, piece: loaded.tokenizer.decode([$0], skipSpecialTokens: false)) }
            return try json(TokenizeWithPiecesResponseDTO(tokens: pieces))
        }
        return try json(TokenizeResponseDTO(tokens: tokens, count: tokens.count, maxModelLength: loaded.model.maxContextLength))
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

    func tokenizerInfo(model: String?) throws -> Response {
        let (_, loaded) = try validator.resolve(model)
        let tokenizer = loaded.tokenizer
        func token(_ id: Int?) -> String? { id.flatMap { tokenizer.tokenString(for: $0) } }
        let template = loaded.chatTemplate?.templates.first { $0.name == "default" } ?? loaded.chatTemplate?.templates.first
        return try json(TokenizerInfoDTO(
            tokenizerClass: String(describing: type(of: tokenizer)), bosToken: token(tokenizer.bosTokenId),
            eosToken: token(loaded.eosTokenIds.first ?? tokenizer.eosTokenId), padToken: nil,
            unkToken: tokenizer.tokenId(for: "<unk>").flatMap { tokenizer.tokenString(for: $0) },
            modelMaxLength: loaded.model.maxContextLength, vocabSize: tokenizer.vocabularySize,
            addBosToken: tokenizer.addsBosToken, chatTemplate: template?.template.source))
    }
}
