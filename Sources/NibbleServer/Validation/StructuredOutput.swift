import NibbleGrammar
import NibbleTemplates

/// What a request's output must match, checked once: nothing (plain text), or a compiled grammar from a GBNF
/// text, a JSON Schema, or "any JSON object".
///
/// Wire forms: OpenAI `response_format` `{"type": "text"}`, `{"type": "json_object"}` (with llama.cpp's and vLLM's
/// optional `schema`), `{"type": "json_schema", "json_schema": {"name", "description", "schema", "strict"}}`;
/// llama.cpp `json_schema` (a schema) and `grammar` (GBNF). At most one of them may constrain a request.
enum StructuredOutput {
    /// The grammar the request's fields ask for, or nil for free text. Errors name the field.
    static func grammar(_ dto: StructuredOutputDTO) throws(APIError) -> Grammar? {
        var asked: [(field: String, make: () throws(APIError) -> Grammar)] = []
        if let format = dto.responseFormat?.value, !format.isNone {
            if let make = try responseFormat(format) { asked.append(("response_format", make)) }
        }
        if let schema = dto.jsonSchema?.value, !schema.isNone {
            asked.append(("json_schema", { () throws(APIError) -> Grammar in try compile(schema: schema, field: "json_schema") }))
        }
        if let text = dto.grammar {
            asked.append(("grammar", { () throws(APIError) -> Grammar in try compile(gbnf: text, field: "grammar") }))
        }
        guard let first = asked.first else { return nil }
        if asked.count > 1 {
            throw .invalidParameter(name: asked[1].field, reason: "cannot be combined with \(first.field): give one output constraint")
        }
        return try first.make()
    }

    /// `response_format`: nil for `text`, else how to build its grammar.
    private static func responseFormat(_ format: Value) throws(APIError) -> (() throws(APIError) -> Grammar)? {
        guard case .dict(let fields) = format, case .string(let type)? = fields["type"] else {
            throw .invalidParameter(name: "response_format", reason: "must be an object with a \"type\" (text, json_object or json_schema)")
        }
        func only(_ keys: Set<String>) throws(APIError) {
            if let extra = fields.keys.first(where: { !keys.contains($0) }) {
                throw .invalidParameter(name: "response_format.\(extra)", reason: "is not a field of a \"\(type)\" response_format")
            }
        }
        switch type {
        case "text":
            try only(["type"])
            return nil
        case "json_object":
            try only(["type", "schema"])
            if let schema = fields["schema"], !schema.isNone {
                return { () throws(APIError) -> Grammar in try compile(schema: schema, field: "response_format.schema") }
            }
            return { () throws(APIError) -> Grammar in try compile(gbnf: JSONSchemaGrammar.anyObjectGBNF, field: "response_format") }
        case "json_schema":
            try only(["type", "json_schema"])
            guard case .dict(let spec)? = fields["json_schema"] else {
                throw .invalidParameter(name: "response_format.json_schema", reason: "is required: an object with \"name\" and \"schema\"")
            }
            let known: Set<String> = ["name", "description", "schema", "strict"]
            if let extra = spec.keys.first(where: { !known.contains($0) }) {
                throw .invalidParameter(name: "response_format.json_schema.\(extra)", reason: "is not a json_schema field (name, description, schema, strict)")
            }
            if let name = spec["name"], name.stringValue == nil {
                throw .invalidParameter(name: "response_format.json_schema.name", reason: "must be a string")
            }
            if let strict = spec["strict"], !strict.isNone, !(strict.isBool) {
                throw .invalidParameter(name: "response_format.json_schema.strict", reason: "must be a boolean")
            }
            // Output always follows the schema exactly, so `strict: false` asks for nothing less.
            guard let schema = spec["schema"], !schema.isNone else {
                throw .invalidParameter(name: "response_format.json_schema.schema", reason: "is required")
            }
            return { () throws(APIError) -> Grammar in try compile(schema: schema, field: "response_format.json_schema.schema") }
        default:
            throw .invalidParameter(name: "response_format.type", reason: "must be text, json_object or json_schema, not \"\(type)\"")
        }
    }

    static func compile(schema: Value, field: String) throws(APIError) -> Grammar {
        let text: String
        do { text = try TemplateJSON.serialize(schema) } catch {
            throw .invalidParameter(name: field, reason: "is not a JSON schema (\(error))")
        }
        do {
            return try Grammar(gbnf: try JSONSchemaGrammar.gbnf(schema: text))
        } catch let error as GrammarError {
            throw .invalidParameter(name: field, reason: error.description)
        } catch {
            throw .invalidParameter(name: field, reason: "\(error)")
        }
    }

    static func compile(gbnf: String, field: String) throws(APIError) -> Grammar {
        do { return try Grammar(gbnf: gbnf) } catch let error as GrammarError {
            throw .invalidParameter(name: field, reason: error.description)
        } catch {
            throw .invalidParameter(name: field, reason: "\(error)")
        }
    }
}

extension Value {
    var isBool: Bool { if case .bool = self { return true } else { return false } }
}
