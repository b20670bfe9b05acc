import Foundation
import NibbleTemplates

/// The structured-output fields of a generation body, decoded from the same JSON object as the rest: OpenAI's
/// `response_format`, llama.cpp's `json_schema` (a schema) and `grammar` (GBNF text).
struct StructuredOutputDTO: Decodable {
    var responseFormat: TemplateValueDTO?
    var jsonSchema: TemplateValueDTO?
    var grammar: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case grammar, responseFormat = "response_format", jsonSchema = "json_schema"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        responseFormat = try container.decodeIfPresent(TemplateValueDTO.self, forKey: .responseFormat)
        jsonSchema = try container.decodeIfPresent(TemplateValueDTO.self, forKey: .jsonSchema)
        grammar = try container.decodeIfPresent(String.self, forKey: .grammar)
    }

    /// Replaces the schemas with the same values read from the raw body in the sender's key order: a schema's
    /// `properties` order is the order the output writes them in.
    mutating func keepKeyOrder(from body: Data) {
        guard responseFormat != nil || jsonSchema != nil,
              case .dict(let root)? = try? TemplateJSON.parse(String(decoding: body, as: UTF8.self)) else { return }
        if let value = root["response_format"], responseFormat != nil { responseFormat = TemplateValueDTO(value) }
        if let value = root["json_schema"], jsonSchema != nil { jsonSchema = TemplateValueDTO(value) }
    }
}

/// Chat's tool options beside `tools` and `tool_choice`.
struct ToolOptionsDTO: Decodable {
    var parallelToolCalls: Bool?

    enum CodingKeys: String, CodingKey, CaseIterable { case parallelToolCalls = "parallel_tool_calls" }
}
