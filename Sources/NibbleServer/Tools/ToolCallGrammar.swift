import NibbleGrammar

extension ToolCalling {
    /// The grammar of a reply that is only calls of `callable` in the family's syntax (one call unless parallel
    /// calls are on), each call's arguments valid for its function's `parameters` schema.
    func callGrammar() throws(APIError) -> Grammar {
        var rules = JSONSchemaRuleSet()
        let space = rules.primitive("space")
        let lit = JSONSchemaRuleSet.literal
        var alternatives: [String] = []
        for (index, function) in callable.enumerated() {
            let arguments: String
            do { arguments = try rules.rule(for: function.parameters, name: "args\(index)-\(function.name)") } catch {
                throw .invalidParameter(name: "tools[\(functions.firstIndex { $0.name == function.name } ?? index)].function.parameters",
                                        reason: "\(error)")
            }
            let name = lit(function.name)
            let quotedName = lit(JSONSchemaValue.string(function.name).serialized)
            /// `{"<nameKey>": "NAME", "<argumentsKey>": {…}}` with JSON's optional spaces.
            func object(_ nameKey: String, _ argumentsKey: String) -> String {
                "\"{\" \(space) \(lit("\"\(nameKey)\"")) \(space) \":\" \(space) \(quotedName) \(space) \",\" \(space) "
                    + "\(lit("\"\(argumentsKey)\"")) \(space) \":\" \(space) \(arguments) \"}\" \(space)"
            }
            let call: String
            switch family {
            case .hermes: call = "\(lit("<tool_call>")) \(space) \(object("name", "arguments")) \(lit("</tool_call>"))"
            case .llama3: call = object("name", "parameters")
            case .mistral, .granite, .generic: call = object("name", "arguments")
            case .commandR: call = object("tool_name", "parameters")
            case .deepseekR1:
                call = "\(lit("<｜tool▁call▁begin｜>function<｜tool▁sep｜>")) \(name) \(lit("\n```json\n")) \(arguments) \(lit("```<｜tool▁call▁end｜>"))"
            case .functionary: call = "\(name) \"\\n\" \(arguments)"
            }
            alternatives.append(rules.define("call\(index)-\(function.name)", call))
        }
        let call = rules.define("call", alternatives.joined(separator: " | "))
        // Llama 3's template renders one call per message.
        let many = parallel && family != .llama3
        func list(_ separator: String) -> String { many ? "\(call) (\(separator) \(call))*" : call }
        let root: String
        switch family {
        case .hermes: root = list(space)
        case .llama3: root = call
        case .mistral: root = "\(lit("[TOOL_CALLS]")) \"[\" \(space) \(list("\",\" \(space)")) \"]\""
        case .granite: root = "\(lit("<|tool_call|>")) \"[\" \(space) \(list("\",\" \(space)")) \"]\""
        case .commandR: root = "\(lit("Action:")) \(space) \(lit("```json")) \(space) \"[\" \(space) \(list("\",\" \(space)")) \"]\" \(space) \(lit("```"))"
        // The template itself leaves the closing marker out when the turn ends there.
        case .deepseekR1: root = "\(lit("<｜tool▁calls▁begin｜>")) \(list("\"\\n\"")) \(lit("<｜tool▁calls▁end｜>"))?"
        case .functionary: root = list(lit(">>>"))
        case .generic:
            root = "\"{\" \(space) \(lit("\"tool_calls\"")) \(space) \":\" \(space) \"[\" \(space) \(list("\",\" \(space)")) \"]\" \(space) \"}\" \(space)"
        }
        do { return try Grammar(gbnf: rules.gbnf(root: root)) } catch {
            throw .invalidParameter(name: "tools", reason: "the tools' call grammar cannot be built: \(error)")
        }
    }
}
