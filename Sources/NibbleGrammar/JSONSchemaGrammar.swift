/// JSON Schema → GBNF, so a schema-constrained request runs through the same parser and matcher as a GBNF one.
///
/// Output is compact JSON with bounded whitespace between tokens (`space` allows at most one newline and 20
/// indent characters), numbers and strings in exact JSON syntax with bounded digit counts. An unsupported
/// keyword throws `GrammarError.unsupportedSchema` naming it and its JSON pointer.
public enum JSONSchemaGrammar {
    /// GBNF for a schema given as JSON text.
    public static func gbnf(schema: String) throws -> String {
        try gbnf(schema: try JSONSchemaValue.parse(schema))
    }

    /// GBNF for a parsed schema.
    public static func gbnf(schema: JSONSchemaValue) throws -> String {
        var converter = SchemaConverter(root: schema)
        let rootExpr = try converter.visit(schema, path: "", name: "root")
        if rootExpr != "root" { converter.define("root", rootExpr) }
        return converter.render()
    }

    /// A compiled grammar for a schema given as JSON text.
    public static func grammar(schema: String) throws -> Grammar {
        try Grammar(gbnf: try gbnf(schema: schema))
    }

    /// GBNF for `response_format: {"type": "json_object"}`: any JSON object.
    public static var anyObjectGBNF: String {
        var converter = SchemaConverter(root: .object([]))
        converter.define("root", converter.primitive("object"))
        return converter.render()
    }
}

/// Several schemas in one grammar (the arguments of each tool a call may name): each schema becomes a rule,
/// primitive rules (`space`, `string`, `value`, …) are shared, and the caller adds the rules around them.
public struct JSONSchemaRuleSet {
    private var converter = SchemaConverter(root: .object([]))

    public init() {
        converter.reserve("root")
    }

    /// The name of a rule matching JSON that validates against `schema` (its `$ref`s resolve within it).
    public mutating func rule(for schema: JSONSchemaValue, name: String) throws -> String {
        converter.reroot(schema)
        let expr = try converter.visit(schema, path: "", name: name)
        return converter.defineFresh(name, expr)
    }

    /// A shared primitive rule: `space`, `string`, `value`, `object`, `number`, …
    public mutating func primitive(_ name: String) -> String { converter.primitive(name) }

    /// Adds a rule under a fresh name derived from `name`, returning the name.
    public mutating func define(_ name: String, _ body: String) -> String { converter.defineFresh(name, body) }

    /// A GBNF string literal for `text`.
    public static func literal(_ text: String) -> String { SchemaConverter.literal(text) }

    /// The grammar: `root ::= root` followed by every rule defined so far.
    public func gbnf(root: String) -> String {
        "root ::= \(root)\n" + converter.render()
    }
}

struct SchemaConverter {
    private(set) var root: JSONSchemaValue
    private var rules: [(String, String)] = []
    private var names: Set<String> = []
    private var refRules: [String: String] = [:]

    /// Keywords that only annotate and never change what validates.
    static let annotations: Set<String> = [
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly",
        "writeOnly", "$defs", "definitions",
    ]
    static let handled: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
        "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "minLength", "maxLength", "format", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum",
    ]
    static let maxRepeat = 1000

    init(root: JSONSchemaValue) {
        self.root = root
    }

    // MARK: - Rules

    mutating func define(_ name: String, _ body: String) {
        rules.append((name, body))
        names.insert(name)
    }

    /// Keeps `name` from being given to a generated rule.
    mutating func reserve(_ name: String) { names.insert(name) }

    /// Defines `body` under a fresh name made from `hint`.
    mutating func defineFresh(_ hint: String, _ body: String) -> String {
        let name = fresh(hint)
        define(name, body)
        return name
    }

    /// Converts the next schema against a new root (its `$ref`s resolve there, not in earlier schemas).
    mutating func reroot(_ schema: JSONSchemaValue) {
        root = schema
        refRules = [:]
    }

    private mutating func fresh(_ hint: String) -> String {
        var base = String(hint.unicodeScalars.map { s -> Character in
            ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s) ? Character(s) : "-"
        })
        if base.isEmpty { base = "r" }
        if base.count > 60 { base = String(base.prefix(60)) }
        var name = base
        var i = 1
        while names.contains(name) || Self.primitiveNames.contains(name) && name != base || isPrimitive(name) {
            name = "\(base)-\(i)"
            i += 1
        }
        names.insert(name)
        return name
    }

    private func isPrimitive(_ name: String) -> Bool { Self.primitiveNames.contains(name) }

    func render() -> String {
        rules.map { "\($0.0) ::= \($0.1)" }.joined(separator: "\n") + "\n"
    }

    static let primitiveNames: Set<String> = [
        "space", "value", "object", "array", "string", "char", "number", "integer", "boolean", "null",
        "integral-part", "decimal-part", "hex", "date", "time", "date-time", "uuid", "email",
    ]

    private static let primitiveBodies: [String: (String, [String])] = [
        "space": (#"| " " | "\n" [ \t]{0,20}"#, []),
        "value": ("object | array | string | number | boolean | null", ["object", "array", "string", "number", "boolean", "null"]),
        "object": (#""{" space ( string ":" space value ("," space string ":" space value)* )? "}" space"#, ["space", "string", "value"]),
        "array": (#""[" space ( value ("," space value)* )? "]" space"#, ["space", "value"]),
        // Unicode escapes exclude surrogates so every escape is one character, as lengths count them.
        "char": (#"[^"\\\x7F\x00-\x1F] | [\\] (["\\/bfnrt] | "u" ([0-9a-cA-CefEF] hex{3} | [dD] [0-7] hex{2}))"#, ["hex"]),
        "hex": ("[0-9a-fA-F]", []),
        "string": (#""\"" char* "\"" space"#, ["char", "space"]),
        "integral-part": ("[0] | [1-9] [0-9]{0,15}", []),
        "decimal-part": ("[0-9]{1,16}", []),
        "number": (#"("-"? integral-part) ("." decimal-part)? ([eE] [-+]? [0-9]{1,3})? space"#, ["integral-part", "decimal-part", "space"]),
        "integer": (#"("-"? integral-part) space"#, ["integral-part", "space"]),
        "boolean": (#"("true" | "false") space"#, ["space"]),
        "null": (#""null" space"#, ["space"]),
        "date": (#"( [1-9] [0-9]{3} | "0" [1-9] [0-9]{2} | "00" [1-9] [0-9] | "000" [1-9] ) "-" ( "0" [13578] "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | "1" [02] "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | "0" [469] "-" ( "0" [1-9] | [12] [0-9] | "30" ) | "11-" ( "0" [1-9] | [12] [0-9] | "30" ) | "02-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) )"#, []),
        "time": (#"( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )"#, []),
        "date-time": (#"date "T" time"#, ["date", "time"]),
        "uuid": (#"hex{8} "-" hex{4} "-" hex{4} "-" hex{4} "-" hex{12}"#, ["hex"]),
        "email": (#"[a-zA-Z0-9._%+-]{1,64} "@" [a-zA-Z0-9-]{1,63} ( "." [a-zA-Z0-9-]{1,63} ){0,4} "." [a-zA-Z]{2,10}"#, []),
    ]

    /// The name of a shared primitive rule, defining it (and what it uses) on first use.
    mutating func primitive(_ name: String) -> String {
        guard !names.contains(name), let (body, deps) = Self.primitiveBodies[name] else { return name }
        define(name, body)
        for d in deps { _ = primitive(d) }
        return name
    }

    static func literal(_ text: String) -> String {
        var out = "\""
        for s in text.unicodeScalars {
            switch s {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where s.value < 0x20 || s.value == 0x7F:
                let hex = String(s.value, radix: 16, uppercase: true)
                out += "\\x" + (hex.count < 2 ? "0" : "") + hex
            default: out.unicodeScalars.append(s)
            }
        }
        return out + "\""
    }

    // MARK: - Schemas

    private static func pointer(_ path: String, _ key: String) -> String {
        path + "/" + key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    private func unsupported(_ keyword: String, _ path: String, _ reason: String) -> GrammarError {
        .unsupportedSchema(keyword: keyword, path: path, reason: reason)
    }

    /// A GBNF expression (usually a rule name) for `schema`, defining the rules it needs.
    mutating func visit(_ schema: JSONSchemaValue, path: String, name: String) throws -> String {
        switch schema {
        case .bool(true): return primitive("value")
        case .bool(false): throw unsupported("false", path, "a false schema matches nothing")
        case .object(let members):
            for (key, _) in members where !Self.handled.contains(key) && !Self.annotations.contains(key) {
                throw unsupported(key, Self.pointer(path, key), "keyword not supported for structured output")
            }
            if members.isEmpty { return primitive("value") }
        default:
            throw GrammarError.invalidSchema(path: path, reason: "a schema must be an object or a boolean")
        }
        let keys = Set(schema.objectKeys)
        let meaningful = keys.subtracting(Self.annotations)

        if let ref = schema["$ref"] {
            guard meaningful == ["$ref"] else {
                let other = meaningful.subtracting(["$ref"]).sorted()[0]
                throw unsupported(other, Self.pointer(path, other), "keywords beside \"$ref\" are not supported")
            }
            guard case .string(let target) = ref else {
                throw GrammarError.invalidSchema(path: Self.pointer(path, "$ref"), reason: "$ref must be a string")
            }
            return try refRule(target, path: Self.pointer(path, "$ref"))
        }
        if let value = schema["const"] {
            return "\(Self.literal(value.serialized)) \(primitive("space"))"
        }
        if let values = schema["enum"] {
            guard case .array(let items) = values, !items.isEmpty else {
                throw GrammarError.invalidSchema(path: Self.pointer(path, "enum"), reason: "enum must be a non-empty array")
            }
            return "(" + items.map { Self.literal($0.serialized) }.joined(separator: " | ") + ") " + primitive("space")
        }
        for keyword in ["anyOf", "oneOf"] {
            guard let list = schema[keyword] else { continue }
            guard case .array(let items) = list, !items.isEmpty else {
                throw GrammarError.invalidSchema(path: Self.pointer(path, keyword), reason: "\(keyword) must be a non-empty array")
            }
            if let other = meaningful.subtracting([keyword]).sorted().first {
                throw unsupported(other, Self.pointer(path, other), "keywords beside \"\(keyword)\" are not supported")
            }
            var alternatives: [String] = []
            for (i, item) in items.enumerated() {
                alternatives.append(try visit(item, path: Self.pointer(Self.pointer(path, keyword), String(i)),
                                              name: "\(name)-\(i)"))
            }
            let rule = fresh(name)
            define(rule, alternatives.joined(separator: " | "))
            return rule
        }
        if let list = schema["allOf"] {
            return try visit(try mergeAllOf(list, sibling: schema, path: path), path: path, name: name)
        }

        var types: [String]
        switch schema["type"] {
        case .string(let t)?: types = [t]
        case .array(let ts)?:
            types = try ts.map {
                guard case .string(let t) = $0 else {
                    throw GrammarError.invalidSchema(path: Self.pointer(path, "type"), reason: "type names must be strings")
                }
                return t
            }
        case nil:
            if !keys.isDisjoint(with: ["properties", "additionalProperties", "required"]) {
                types = ["object"]
            } else if !keys.isDisjoint(with: ["items", "prefixItems", "minItems", "maxItems"]) {
                types = ["array"]
            } else if !keys.isDisjoint(with: ["minLength", "maxLength", "format"]) {
                types = ["string"]
            } else if !keys.isDisjoint(with: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]) {
                types = ["number"]
            } else {
                return primitive("value")
            }
        default:
            throw GrammarError.invalidSchema(path: Self.pointer(path, "type"), reason: "type must be a string or an array")
        }
        var alternatives: [String] = []
        for t in types {
            alternatives.append(try typed(t, schema, path: path, name: types.count > 1 ? "\(name)-\(t)" : name))
        }
        return alternatives.count == 1 ? alternatives[0] : "(" + alternatives.joined(separator: " | ") + ")"
    }

    private mutating func typed(_ type: String, _ schema: JSONSchemaValue, path: String, name: String) throws -> String {
        switch type {
        case "object": return try object(schema, path: path, name: name)
        case "array": return try array(schema, path: path, name: name)
        case "string": return try string(schema, path: path, name: name)
        case "number", "integer": return try number(schema, integer: type == "integer", path: path, name: name)
        case "boolean": return primitive("boolean")
        case "null": return primitive("null")
        default:
            throw GrammarError.invalidSchema(path: Self.pointer(path, "type"), reason: "unknown type \"\(type)\"")
        }
    }

    private func int(_ schema: JSONSchemaValue, _ key: String, path: String) throws -> Int? {
        guard let v = schema[key] else { return nil }
        guard case .number(let text) = v, let d = Double(text), d >= 0, d == d.rounded(), d <= 1e9 else {
            throw GrammarError.invalidSchema(path: Self.pointer(path, key), reason: "\(key) must be a non-negative integer")
        }
        return Int(d)
    }

    private mutating func refRule(_ target: String, path: String) throws -> String {
        if let existing = refRules[target] { return existing }
        guard target.hasPrefix("#") else {
            throw unsupported("$ref", path, "only local references (\"#/...\") are supported, not \"\(target)\"")
        }
        var node = root
        var tokens: [String] = []
        for raw in target.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
            let key = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            tokens.append(key)
            switch node {
            case .object: node = node[key] ?? .null
            case .array(let items): node = Int(key).flatMap { items.indices.contains($0) ? items[$0] : nil } ?? .null
            default: node = .null
            }
            if node == .null {
                throw GrammarError.invalidSchema(path: path, reason: "$ref \"\(target)\" does not resolve")
            }
        }
        let rule = fresh(tokens.last ?? "root-ref")
        refRules[target] = rule
        let body = try visit(node, path: "/" + tokens.joined(separator: "/"), name: rule + "-body")
        define(rule, body)
        return rule
    }

    private func resolve(_ schema: JSONSchemaValue, path: String) throws -> JSONSchemaValue {
        var s = schema
        for _ in 0..<32 {
            guard case .string(let target)? = s["$ref"], target.hasPrefix("#") else { return s }
            var node = root
            for raw in target.dropFirst().split(separator: "/") {
                let key = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                guard let next = node[key] else {
                    throw GrammarError.invalidSchema(path: path, reason: "$ref \"\(target)\" does not resolve")
                }
                node = next
            }
            s = node
        }
        return s
    }

    /// allOf of object schemas: properties and required merged; anything else is refused.
    private func mergeAllOf(_ list: JSONSchemaValue, sibling: JSONSchemaValue, path: String) throws -> JSONSchemaValue {
        guard case .array(let items) = list, !items.isEmpty else {
            throw GrammarError.invalidSchema(path: Self.pointer(path, "allOf"), reason: "allOf must be a non-empty array")
        }
        var parts = [sibling.removing("allOf")]
        for (i, item) in items.enumerated() {
            parts.append(try resolve(item, path: Self.pointer(Self.pointer(path, "allOf"), String(i))))
        }
        var properties: [(String, JSONSchemaValue)] = []
        var required: [JSONSchemaValue] = []
        var additional: JSONSchemaValue?
        for (i, part) in parts.enumerated() {
            guard case .object(let members) = part else { continue }
            for (key, value) in members {
                switch key {
                case "properties":
                    guard case .object(let props) = value else { continue }
                    for (k, v) in props {
                        if let index = properties.firstIndex(where: { $0.0 == k }) {
                            guard properties[index].1 == v else {
                                throw unsupported("allOf", Self.pointer(path, "allOf"),
                                                  "property \"\(k)\" is defined differently in two branches")
                            }
                        } else {
                            properties.append((k, v))
                        }
                    }
                case "required":
                    if case .array(let names) = value { required += names.filter { !required.contains($0) } }
                case "additionalProperties":
                    // Each part's additionalProperties sees only that part's own properties, so a merged object
                    // cannot express anything but `true` (validators would reject the merged output otherwise).
                    guard value == .bool(true) else {
                        let at = i == 0 ? path : Self.pointer(Self.pointer(path, "allOf"), String(i - 1))
                        throw unsupported("additionalProperties", Self.pointer(at, key),
                                          "only true is supported beside or inside allOf")
                    }
                    additional = value
                case "type":
                    guard value == .string("object") else {
                        throw unsupported("allOf", Self.pointer(path, "allOf"), "only objects can be merged")
                    }
                default:
                    if !Self.annotations.contains(key) {
                        let at = i == 0 ? path : Self.pointer(Self.pointer(path, "allOf"), String(i - 1))
                        throw unsupported(key, Self.pointer(at, key), "not supported inside allOf")
                    }
                }
            }
        }
        var merged: [(String, JSONSchemaValue)] = [("type", .string("object")), ("properties", .object(properties))]
        if !required.isEmpty { merged.append(("required", .array(required))) }
        if let additional { merged.append(("additionalProperties", additional)) }
        return .object(merged)
    }

    // MARK: Objects

    private mutating func object(_ schema: JSONSchemaValue, path: String, name: String) throws -> String {
        var props: [(String, JSONSchemaValue)] = []
        if let p = schema["properties"] {
            guard case .object(let members) = p else {
                throw GrammarError.invalidSchema(path: Self.pointer(path, "properties"), reason: "properties must be an object")
            }
            props = members
        }
        var required: Set<String> = []
        if let r = schema["required"] {
            guard case .array(let items) = r else {
                throw GrammarError.invalidSchema(path: Self.pointer(path, "required"), reason: "required must be an array")
            }
            for item in items {
                guard case .string(let s) = item else {
                    throw GrammarError.invalidSchema(path: Self.pointer(path, "required"), reason: "required names must be strings")
                }
                required.insert(s)
                // A required name without a schema may hold any value.
                if !props.contains(where: { $0.0 == s }) { props.append((s, .bool(true))) }
            }
        }
        // Additional properties: absent or true = any value, false = none, a schema = values of that schema.
        var extraValue: String?
        switch schema["additionalProperties"] {
        case nil where !props.isEmpty:
            // As llama.cpp: an object that lists its properties gets no others unless the schema says so. Every
            // output still validates (it is a subset of what the schema allows), and small models stop inventing
            // keys, which is what a tool's arguments need.
            extraValue = nil
        case nil, .bool(true)?: extraValue = primitive("value")
        case .bool(false)?: extraValue = nil
        case let s?: extraValue = try visit(s, path: Self.pointer(path, "additionalProperties"), name: "\(name)-additional")
        }
        var kvs: [String] = []
        for (key, value) in props {
            let valuePath = Self.pointer(Self.pointer(path, "properties"), key)
            let expr = try visit(value, path: valuePath, name: "\(name)-\(key)")
            let kv = fresh("\(name)-\(key)-kv")
            define(kv, "\(Self.literal(JSONSchemaValue.quote(key))) \(primitive("space")) \":\" \(primitive("space")) \(expr)")
            kvs.append(kv)
        }
        var extra: String?
        if let extraValue {
            let key = try extraKeyRule(excluding: props.map(\.0), name: name)
            let rule = fresh("\(name)-extra-kv")
            define(rule, "\(key) \":\" \(primitive("space")) \(extraValue)")
            extra = rule
        }
        // s_i: members i… with nothing emitted yet; r_i: members i… after something (each led by a comma).
        let n = kvs.count
        var sNames = (0...n).map { _ in "" }, rNames = (0...n).map { _ in "" }
        let comma = "\",\" \(primitive("space"))"
        rNames[n] = extra.map { "(\(comma) \($0))*" } ?? ""
        sNames[n] = extra.map { "(\($0) (\(comma) \($0))*)?" } ?? ""
        for i in stride(from: n - 1, through: 0, by: -1) {
            let isRequired = required.contains(props[i].0)
            let r = fresh("\(name)-r\(i)"), s = fresh("\(name)-s\(i)")
            let rNext = rNames[i + 1], sNext = sNames[i + 1]
            define(r, "\(comma) \(kvs[i]) \(rNext)" + (isRequired ? "" : " | \(rNext.isEmpty ? "\"\"" : rNext)"))
            define(s, "\(kvs[i]) \(rNext)" + (isRequired ? "" : " | \(sNext.isEmpty ? "\"\"" : sNext)"))
            rNames[i] = r
            sNames[i] = s
        }
        let rule = fresh(name)
        define(rule, "\"{\" \(primitive("space")) \(sNames[0]) \"}\" \(primitive("space"))")
        return rule
    }

    /// A quoted key other than `names`: any string whose characters leave the names' trie somewhere.
    private mutating func extraKeyRule(excluding names: [String], name: String) throws -> String {
        let keyChar = #"[^"\\\x7F\x00-\x1F]"#
        let space = primitive("space")
        let rule = fresh("\(name)-extra-key")
        if names.isEmpty {
            define(rule, "\"\\\"\" \(keyChar)* \"\\\"\" \(space)")
            return rule
        }
        // Build the trie of names over code points; at each node, either stop (if no name ends here), leave with
        // another character (then anything), or follow a child.
        struct Node { var children: [(UInt32, Int)] = []; var terminal = false }
        var nodes = [Node()]
        for key in names {
            var at = 0
            for s in key.unicodeScalars {
                if let child = nodes[at].children.first(where: { $0.0 == s.value })?.1 {
                    at = child
                } else {
                    nodes.append(Node())
                    nodes[at].children.append((s.value, nodes.count - 1))
                    at = nodes.count - 1
                }
            }
            nodes[at].terminal = true
        }
        func classChar(_ v: UInt32) -> String {
            if v == 0x22 || v == 0x5C || v == 0x5D || v == 0x5B || v == 0x2D || v == 0x5E || v < 0x20 || v == 0x7F {
                let hex = String(v, radix: 16, uppercase: true)
                return "\\x" + (hex.count < 2 ? "0" : "") + hex
            }
            return String(Character(Unicode.Scalar(v)!))  // v came from a Unicode scalar
        }
        let tail = fresh("\(name)-extra-tail")
        define(tail, "\(keyChar)* \"\\\"\" \(space)")
        var ruleNames: [String] = nodes.indices.map { _ in "" }
        for i in nodes.indices { ruleNames[i] = fresh("\(name)-extra-k\(i)") }
        for (i, node) in nodes.enumerated() {
            var alts: [String] = []
            if !node.terminal && i != 0 { alts.append("\"\\\"\" \(space)") }
            let excluded = node.children.map { classChar($0.0) }.joined()
            alts.append("[^\"\\\\\\x7F\\x00-\\x1F\(excluded)] \(tail)")
            for (c, child) in node.children {
                alts.append("\(Self.literal(String(Character(Unicode.Scalar(c)!)))) \(ruleNames[child])")
            }
            define(ruleNames[i], alts.joined(separator: " | "))
        }
        define(rule, "\"\\\"\" \(ruleNames[0])")
        return rule
    }

    // MARK: Arrays

    private mutating func array(_ schema: JSONSchemaValue, path: String, name: String) throws -> String {
        var prefix: [String] = []
        if let p = schema["prefixItems"] {
            guard case .array(let items) = p else {
                throw GrammarError.invalidSchema(path: Self.pointer(path, "prefixItems"), reason: "prefixItems must be an array")
            }
            for (i, item) in items.enumerated() {
                prefix.append(try visit(item, path: Self.pointer(Self.pointer(path, "prefixItems"), String(i)),
                                        name: "\(name)-\(i)"))
            }
        }
        var item: String?
        switch schema["items"] {
        case nil, .bool(true)?: item = primitive("value")
        case .bool(false)?: item = nil
        case .array?:
            throw unsupported("items", Self.pointer(path, "items"), "an array of item schemas (use prefixItems)")
        case let s?: item = try visit(s, path: Self.pointer(path, "items"), name: "\(name)-item")
        }
        let minItems = try int(schema, "minItems", path: path) ?? 0
        var maxItems = try int(schema, "maxItems", path: path)
        if item == nil { maxItems = min(maxItems ?? prefix.count, prefix.count) }
        if let maxItems, maxItems < minItems {
            throw GrammarError.invalidSchema(path: Self.pointer(path, "maxItems"), reason: "maxItems is below minItems")
        }
        guard max(minItems, prefix.count) <= Self.maxRepeat, (maxItems ?? 0) <= Self.maxRepeat else {
            throw unsupported("maxItems", path, "item counts above \(Self.maxRepeat) are not supported")
        }
        let comma = "\",\" \(primitive("space"))"
        func element(_ i: Int) -> String? { i < prefix.count ? prefix[i] : item }
        // after(i): what may follow once i elements are out.
        let explicit = max(prefix.count, minItems)
        var follow: String
        // Beyond `explicit`, elements are uniform: a bounded or unbounded repetition.
        if let maxItems {
            let remaining = maxItems - explicit
            follow = remaining > 0 && item != nil ? "(\(comma) \(item!)){0,\(remaining)}" : ""
        } else {
            follow = item.map { "(\(comma) \($0))*" } ?? ""
        }
        var i = explicit
        if let maxItems, explicit > maxItems { i = maxItems; follow = "" }
        while i > 1 {
            guard let e = element(i - 1) else {
                throw GrammarError.invalidSchema(path: path, reason: "minItems exceeds the items allowed")
            }
            let rule = fresh("\(name)-after\(i - 1)")
            let optional = i - 1 >= minItems
            define(rule, "\(comma) \(e) \(follow)" + (optional ? " | \"\"" : ""))
            follow = rule
            i -= 1
        }
        var body: String
        if let maxItems, maxItems == 0 {
            body = ""
        } else if let first = element(0) {
            body = minItems > 0 ? "\(first) \(follow)" : "(\(first) \(follow))?"
        } else {
            body = ""
        }
        let rule = fresh(name)
        define(rule, "\"[\" \(primitive("space")) \(body) \"]\" \(primitive("space"))")
        return rule
    }

    // MARK: Strings and numbers

    private mutating func string(_ schema: JSONSchemaValue, path: String, name: String) throws -> String {
        if let format = schema["format"] {
            guard case .string(let f) = format, ["date", "time", "date-time", "uuid", "email"].contains(f) else {
                throw unsupported("format", Self.pointer(path, "format"),
                                  "supported formats are date, time, date-time, uuid and email, not \(format.serialized)")
            }
            if schema["minLength"] != nil || schema["maxLength"] != nil {
                throw unsupported("minLength", path, "length bounds together with format")
            }
            return "\"\\\"\" \(primitive(f)) \"\\\"\" \(primitive("space"))"
        }
        let low = try int(schema, "minLength", path: path) ?? 0
        let high = try int(schema, "maxLength", path: path)
        if low == 0 && high == nil { return primitive("string") }
        if let high, high < low {
            throw GrammarError.invalidSchema(path: Self.pointer(path, "maxLength"), reason: "maxLength is below minLength")
        }
        guard low <= Self.maxRepeat, (high ?? 0) <= Self.maxRepeat else {
            throw unsupported(high ?? 0 > Self.maxRepeat ? "maxLength" : "minLength", path,
                              "string lengths above \(Self.maxRepeat) are not supported")
        }
        let count = high.map { $0 == low ? "{\(low)}" : "{\(low),\($0)}" } ?? "{\(low),}"
        let rule = fresh(name)
        define(rule, "\"\\\"\" \(primitive("char"))\(count) \"\\\"\" \(primitive("space"))")
        return rule
    }

    private mutating func number(_ schema: JSONSchemaValue, integer: Bool, path: String, name: String) throws -> String {
        func bound(_ key: String) throws -> Double? {
            guard let v = schema[key] else { return nil }
            guard case .number(let text) = v, let d = Double(text) else {
                throw GrammarError.invalidSchema(path: Self.pointer(path, key), reason: "\(key) must be a number")
            }
            return d
        }
        let minimum = try bound("minimum"), maximum = try bound("maximum")
        let exclusiveMin = try bound("exclusiveMinimum"), exclusiveMax = try bound("exclusiveMaximum")
        if minimum == nil && maximum == nil && exclusiveMin == nil && exclusiveMax == nil {
            return primitive(integer ? "integer" : "number")
        }
        guard integer else {
            if minimum == 0, maximum == nil, exclusiveMin == nil, exclusiveMax == nil {
                return "\(primitive("integral-part")) (\".\" \(primitive("decimal-part")))? ([eE] [-+]? [0-9]{1,3})? "
                    + primitive("space")
            }
            let key = minimum != nil ? "minimum" : maximum != nil ? "maximum" : exclusiveMin != nil ? "exclusiveMinimum" : "exclusiveMaximum"
            throw unsupported(key, Self.pointer(path, key), "bounds on non-integer numbers (only minimum 0) are not supported")
        }
        let limit = 1e15
        var low: Int64? = nil, high: Int64? = nil
        for (key, v, isLow, exclusive) in [("minimum", minimum, true, false), ("exclusiveMinimum", exclusiveMin, true, true),
                                           ("maximum", maximum, false, false), ("exclusiveMaximum", exclusiveMax, false, true)] {
            guard let v else { continue }
            guard abs(v) < limit else { throw unsupported(key, Self.pointer(path, key), "integer bounds beyond 10^15") }
            if isLow {
                var b = Int64(v.rounded(.up))
                if exclusive && Double(b) == v { b += 1 }
                low = max(low ?? b, b)
            } else {
                var b = Int64(v.rounded(.down))
                if exclusive && Double(b) == v { b -= 1 }
                high = min(high ?? b, b)
            }
        }
        if let low, let high, low > high {
            throw GrammarError.invalidSchema(path: path, reason: "no integer satisfies the bounds")
        }
        let rule = fresh(name)
        define(rule, "(" + IntegerRange.gbnf(low: low, high: high) + ") " + primitive("space"))
        return rule
    }
}

extension JSONSchemaValue {
    var objectKeys: [String] {
        if case .object(let members) = self { return members.map(\.0) }
        return []
    }

    func removing(_ key: String) -> JSONSchemaValue {
        if case .object(let members) = self { return .object(members.filter { $0.0 != key }) }
        return self
    }
}
