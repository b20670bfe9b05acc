import Foundation
import Hummingbird
import NibbleEngine
import NibbleGeneration
import NibbleModels

/// What is served: OpenAI `GET /v1/models` and `/v1/models/{id}` (also without `/v1`), and llama.cpp `GET /props`.
struct ModelInfoController<Context: RequestContext>: Sendable {
    let registry: ModelRegistry
    let validator: GenerationValidator
    /// Sequences each model runs at once.
    let slots: Int

    func register(on router: Router<Context>) {
        for prefix in ["/v1", ""] {
            router.get("\(prefix)/models") { _, _ in try list() }
            // Ids may hold slashes (ORG/NAME from the hub), so the rest of the path is the id.
            router.get("\(prefix)/models/**") { _, context in
                try model(context.parameters.getCatchAll().joined(separator: "/"))
            }
        }
        router.get("/props") { request, _ in try props(model: request.uri.queryParameters.get("model")) }
    }

    private static var now: Int { Int(Date().timeIntervalSince1970) }

    private func describe(_ entry: ModelRegistry.Entry) -> ModelListDTO.Model {
        var model: ModelListDTO.Model
        switch entry.state {
        case .ready(let loaded):
            model = .init(id: entry.spec.name, created: entry.loadedAt ?? Self.now, status: "loaded",
                          contextLength: loaded.model.maxContextLength)
        case .pending, .loading: model = .init(id: entry.spec.name, created: Self.now, status: "loading")
        case .failed: model = .init(id: entry.spec.name, created: Self.now, status: "failed")
        }
        model.aliases = entry.spec.aliases
        return model
    }

    func list() throws -> Response {
        try json(ModelListDTO(data: registry.entries.map(describe)))
    }

    /// One model by its name or an alias (OpenAI's retrieve-model call).
    func model(_ id: String) throws -> Response {
        guard let entry = registry.entry(named: id) else { throw APIError.modelNotFound(id) }
        return try json(describe(entry))
    }

    /// llama.cpp's `/props` for the default model, or the one `?model=` names.
    func props(model name: String?) throws -> Response {
        let (canonical, loaded) = try validator.resolve(name)
        let parameters = validator.defaultParameters(name: canonical, loaded: loaded)
        let template = loaded.chatTemplate
        func token(_ id: Int?) -> String? { id.flatMap { loaded.tokenizer.tokenString(for: $0) } }
        let props = PropsDTO(
            model: canonical, aliases: registry.entry(named: canonical)?.spec.aliases ?? [],
            modelPath: loaded.directory.path, nCtx: loaded.model.maxContextLength,
            vocabSize: loaded.model.vocabularySize, totalSlots: slots,
            chatTemplate: template?.templates.first { $0.name == "default" }?.template.source
                ?? template?.templates.first?.template.source,
            chatTemplateToolUse: template?.templates.first { $0.name == "tool_use" }?.template.source,
            bosToken: token(loaded.tokenizer.bosTokenId), eosToken: token(loaded.eosTokenIds.first),
            defaultGenerationSettings: .init(nCtx: loaded.model.maxContextLength, params: .init(parameters)))
        return try json(props)
    }
}
