import Foundation
import NibbleTestSupport
import Testing
@testable import NibbleGrammar

let schemaSuite: [String] = [
    ##"{"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"], "additionalProperties": false}"##,
    ##"{"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"type": "null"}, "c": {"type": "number"}}, "additionalProperties": false}"##,
    ##"{"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}"##,
    ##"{"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": {"type": "integer"}}"##,
    ##"{"type": "array", "items": {"type": "integer", "minimum": -40, "maximum": 125}, "minItems": 2, "maxItems": 5}"##,
    ##"{"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}], "items": false, "minItems": 1}"##,
    ##"{"type": "array", "prefixItems": [{"const": 1}], "items": {"type": "string", "maxLength": 3}}"##,
    ##"{"enum": ["red", "green", 3, null, {"k": [1, 2]}]}"##,
    ##"{"const": "fixed \"value\" \n"}"##,
    ##"{"anyOf": [{"type": "string", "minLength": 2, "maxLength": 4}, {"type": "integer", "exclusiveMinimum": 10, "maximum": 1234}]}"##,
    ##"{"oneOf": [{"type": "boolean"}, {"type": "null"}]}"##,
    ##"{"type": ["string", "null"]}"##,
    ##"{"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["v", "next"], "additionalProperties": false}}, "$ref": "#/$defs/node"}"##,
    ##"{"definitions": {"p": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"], "additionalProperties": false}}, "type": "array", "items": {"$ref": "#/definitions/p"}, "maxItems": 3}"##,
    ##"{"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"properties": {"b": {"type": "string"}}, "required": ["b"]}]}"##,
    ##"{"type": "object", "properties": {"d": {"type": "string", "format": "date"}, "u": {"type": "string", "format": "uuid"}, "e": {"type": "string", "format": "email"}, "t": {"type": "string", "format": "date-time"}}, "required": ["d", "u", "e", "t"], "additionalProperties": false}"##,
    ##"{"type": "integer", "minimum": 995, "maximum": 100020}"##,
    ##"{"type": "integer", "maximum": -7}"##,
    ##"{"type": "integer", "minimum": 18}"##,
    ##"{"type": "number", "minimum": 0}"##,
    ##"{"type": "string", "minLength": 3}"##,
    ##"{"type": "object", "properties": {"name": {"type": "string"}, "nam": {"type": "integer"}}, "additionalProperties": true}"##,
    ##"{"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}, "meta": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"], "additionalProperties": false}}, "required": ["meta"], "additionalProperties": false}"##,
    ##"{}"##,
]

@Suite struct JSONSchemaGrammarTests {
    @Test(.enabled(if: PythonValidator.available, "needs python3 with jsonschema"), arguments: Array(schemaSuite.enumerated()))
    func randomOutputsValidate(index: Int, schema: String) throws {
        let gbnf = try JSONSchemaGrammar.gbnf(schema: schema)
        let grammar = try Grammar(gbnf: gbnf)
        let samples = randomWalk(grammar, seed: UInt64(index) + 1, count: 40)
        #expect(samples.count >= 30, "too few complete samples for \(schema)")
        let results = try PythonValidator.validate(schema: schema, instances: samples)
        #expect(results.count == samples.count)
        for (sample, result) in zip(samples, results) {
            #expect(result == nil, "\(sample) fails \(schema): \(result ?? "")\n\(gbnf)")
        }
    }

    @Test func jsonObjectModeAcceptsObjectsOnly() throws {
        let g = try Grammar(gbnf: JSONSchemaGrammar.anyObjectGBNF)
        #expect(matches(g, ##"{"a": [1, -2.5e3, true, null, {"b": "\u00e9\n"}], "c": {}}"##))
        #expect(matches(g, "{}"))
        for bad in ["[]", "\"s\"", ##"{"a": 01}"##, ##"{"a": 1,}"##, ##"{"a" 1}"##, ##"{"a": "\x"}"##, ##"{"a": tru}"##,
                    ##"{"a": 1.}"##, ##"{'a': 1}"##, "{\"a\": \"\u{01}\"}", ##"{"a": -}"##] {
            #expect(!matches(g, bad), "accepted \(bad)")
        }
    }

    @Test func schemaAcceptsValidAndRejectsInvalidDocuments() throws {
        let g = try JSONSchemaGrammar.grammar(schema: schemaSuite[0])
        #expect(matches(g, ##"{"name": "Ann", "age": 41}"##))
        #expect(matches(g, "{\n  \"name\": \"B\\\"ob\",\n  \"age\": -3\n}"))
        for bad in [##"{"age": 41, "name": "Ann"}"##, ##"{"name": "Ann"}"##, ##"{"name": "Ann", "age": 4.5}"##,
                    ##"{"name": "Ann", "age": 041}"##, ##"{"name": "Ann", "age": 1, "x": 2}"##, ##"{"name": 3, "age": 1}"##] {
            #expect(!matches(g, bad), "accepted \(bad)")
        }
        let range = try JSONSchemaGrammar.grammar(schema: ##"{"type": "integer", "minimum": -40, "maximum": 125}"##)
        for n in -60...140 { #expect(matches(range, String(n)) == (-40...125).contains(n), "\(n)") }
        #expect(!matches(range, "-0"))
    }

    @Test(arguments: [
        (##"{"type": "string", "pattern": "^a+$"}"##, ##"JSON Schema: unsupported "pattern" at /pattern: keyword not supported for structured output"##),
        (##"{"type": "object", "properties": {"a": {"type": "array", "uniqueItems": true}}}"##,
         ##"JSON Schema: unsupported "uniqueItems" at /properties/a/uniqueItems: keyword not supported for structured output"##),
        (##"{"type": "string", "format": "uri"}"##,
         ##"JSON Schema: unsupported "format" at /format: supported formats are date, time, date-time, uuid and email, not "uri""##),
        (##"{"$ref": "http://x/y"}"##, ##"JSON Schema: unsupported "$ref" at /$ref: only local references ("#/...") are supported, not "http://x/y""##),
        (##"{"$ref": "#/$defs/missing"}"##, ##"JSON Schema: invalid schema at /$ref: $ref "#/$defs/missing" does not resolve"##),
        (##"{"type": "number", "maximum": 3}"##, ##"JSON Schema: unsupported "maximum" at /maximum: bounds on non-integer numbers (only minimum 0) are not supported"##),
        (##"{"type": "strin"}"##, ##"JSON Schema: invalid schema at /type: unknown type "strin""##),
        (##"{"type": "string""##, ##"JSON Schema: invalid schema at /: not valid JSON (unterminated object at byte 17)"##),
        (##"{"not": {}}"##, ##"JSON Schema: unsupported "not" at /not: keyword not supported for structured output"##),
    ])
    func unsupportedSchemas(schema: String, message: String) {
        do {
            _ = try JSONSchemaGrammar.gbnf(schema: schema)
            Issue.record("accepted \(schema)")
        } catch {
            #expect("\(error)" == message)
        }
    }

    /// Random mutations of the suite's schemas and of GBNF text: every outcome is a grammar or a GrammarError.
    @Test func fuzzConvertersNeverCrash() {
        var rng = SeededRandom(seed: 77)
        let alphabet = Array(##"{}[]",:01-9aeilnrstu\ "##) + ["\n"]
        var compiled = 0
        for round in 0..<400 {
            var chars = Array(schemaSuite[round % schemaSuite.count])
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<chars.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: chars.remove(at: i)
                case 1: chars.insert(alphabet.randomElement(using: &rng)!, at: i)
                default: chars[i] = alphabet.randomElement(using: &rng)!
                }
                if chars.isEmpty { chars = ["{"] }
            }
            if let gbnf = try? JSONSchemaGrammar.gbnf(schema: String(chars)) {
                do {
                    _ = try Grammar(gbnf: gbnf)
                    compiled += 1
                } catch {
                    Issue.record("converter produced a grammar that does not compile: \(error)\n\(gbnf)")
                }
            }
            let source = try? JSONSchemaGrammar.gbnf(schema: schemaSuite[round % schemaSuite.count])
            var g = Array(source ?? "root ::= \"x\"")
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<g.count, using: &rng)
                g[i] = (Array(##"()[]|*+?{},"\-^:=# x0"##) + ["\n"]).randomElement(using: &rng)!
            }
            _ = try? Grammar(gbnf: String(g))
        }
        // Most mutations break the JSON or name an unsupported keyword; what converts must compile (checked above).
        #expect(compiled > 5)
    }

    @Test func allOfBesideClosedObjectIsRefused() {
        let schema = ##"{"allOf": [{"properties": {"a": {"type": "integer"}}}], "additionalProperties": false}"##
        #expect(throws: GrammarError.self) { try JSONSchemaGrammar.gbnf(schema: schema) }
    }
}
