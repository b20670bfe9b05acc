import Foundation
import NibbleEngine
import NibbleModels
@testable import NibbleServer
import NibbleTestSupport
import Testing

/// Structured output and tool calls end to end on the real SmolLM2-135M-Instruct: every constrained output is
/// checked by the `jsonschema` library (`scripts/check-json-outputs.py`), not by Nibble's own grammar code.
@Suite(.serialized, .enabled(if: RealModelFixtures.smolLM2GGUF != nil && JSONSchemaScript.available,
                             "needs SmolLM2 (scripts/test fetches it) and python3 with jsonschema"))
struct StructuredOutputServerTests {
    /// Schemas over the features the grammar supports, each with what to ask for.
    static let schemas: [(prompt: String, schema: String)] = [
        ("Describe a person.", #"{"type": "object", "properties": {"name": {"type": "string", "maxLength": 30}, "age": {"type": "integer", "minimum": 0, "maximum": 120}, "student": {"type": "boolean"}}, "required": ["name", "age", "student"], "additionalProperties": false}"#),
        ("Pick a colour.", #"{"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}, "version": {"const": 2}}, "required": ["colour", "version"], "additionalProperties": false}"#),
        ("List three fruits.", #"{"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 20}, "minItems": 3, "maxItems": 3}"#),
        ("Give some numbers.", #"{"type": "object", "properties": {"values": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 4}, "count": {"type": "integer", "exclusiveMinimum": 0}}, "required": ["values", "count"], "additionalProperties": false}"#),
        ("Describe a book and its author.", #"{"type": "object", "properties": {"title": {"type": "string", "maxLength": 40}, "author": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 30}, "born": {"type": "integer", "minimum": 1000, "maximum": 2025}}, "required": ["name", "born"], "additionalProperties": false}}, "required": ["title", "author"], "additionalProperties": false}"#),
        ("Is it sunny? Answer with a value.", #"{"anyOf": [{"type": "boolean"}, {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 20}}, "required": ["answer"], "additionalProperties": false}]}"#),
        ("Give a shape.", #"{"oneOf": [{"type": "object", "properties": {"kind": {"const": "circle"}, "radius": {"type": "number", "minimum": 0}}, "required": ["kind", "radius"], "additionalProperties": false}, {"type": "object", "properties": {"kind": {"const": "square"}, "side": {"type": "integer", "minimum": 1, "maximum": 99}}, "required": ["kind", "side"], "additionalProperties": false}]}"#),
        ("Give two points.", ##"{"$defs": {"point": {"type": "object", "properties": {"x": {"type": "integer", "minimum": -100, "maximum": 100}, "y": {"type": "integer", "minimum": -100, "maximum": 100}}, "required": ["x", "y"], "additionalProperties": false}}, "type": "object", "properties": {"from": {"$ref": "#/$defs/point"}, "to": {"$ref": "#/$defs/point"}}, "required": ["from", "to"], "additionalProperties": false}"##),
        ("Name a city and optional country.", #"{"type": "object", "properties": {"city": {"type": "string", "maxLength": 25}, "country": {"type": ["string", "null"], "maxLength": 25}}, "required": ["city"], "additionalProperties": false}"#),
        ("Give a temperature reading.", #"{"type": "object", "properties": {"celsius": {"type": "number"}, "date": {"type": "string", "format": "date"}}, "required": ["celsius", "date"], "additionalProperties": false}"#),
        ("Give a short code.", #"{"type": "string", "minLength": 4, "maxLength": 8}"#),
    ]

    /// A request whose answer may take minutes (a real model decoding on a busy machine).
    static func post(_ port: Int, _ path: String, raw: String? = nil, json: Any? = nil) async throws -> HTTPTestResponse {
        let body = try raw.map { Data($0.utf8) } ?? json.map { try JSONSerialization.data(withJSONObject: $0) }
        nonisolated(unsafe) let sendable = body
        return try await onThread {
            let connection = try RawHTTPConnection(port: port)
            connection.setReceiveTimeout(seconds: 600)
            try connection.send(method: "POST", path: path, body: sendable)
            return try connection.readResponse()
        }
    }

    /// SmolLM2 served as "smollm2", with its own chat template or one of the reference templates (`template`,
    /// a name in chat-templates.json).
    func withSmolLM2(template: String? = nil, _ body: (TestServer) async throws -> Void) async throws {
        let file = try #require(RealModelFixtures.smolLM2GGUF)
        var configuration = ServerConfiguration()
        var model = ModelConfiguration(name: "smollm2", path: file)
        if let template {
            model.chatTemplate = ChatTemplateTexts(
                single: try ChatReferences.rendering(template: template, conversation: "user").source, origin: "test")
        }
        configuration.models = [model]
        try await withServer(configuration: configuration, registry: ModelRegistry(specs: configuration.modelSpecs), body)
    }

    static func chatBody(_ prompt: String, extra: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [["role": "user", "content": prompt]])) ?? Data()
        let message = String(decoding: data, as: UTF8.self)
        return #"{"model": "smollm2", "messages": \#(message), "max_tokens": 96, "temperature": 0, \#(extra)}"#
    }

    @Test func schemaSuiteOutputsValidateWithJSONSchema() async throws {
        var outputs: [(schema: String, output: String)] = []
        try await withSmolLM2 { server in
            for (index, item) in Self.schemas.enumerated() {
                // Chat with OpenAI's response_format, and llama.cpp's /completion with json_schema on a plain prompt.
                let chat = try await Self.post(server.port, "/v1/chat/completions", raw: Self.chatBody(item.prompt,
                    extra: #""response_format": {"type": "json_schema", "json_schema": {"name": "case\#(index)", "strict": true, "schema": \#(item.schema)}}"#))
                #expect(chat.status == 200, "\(chat.text)")
                let choice = try #require((try chat.json()["choices"] as? [[String: Any]])?.first)
                #expect(choice["finish_reason"] as? String == "stop", "case \(index): \(chat.text)")
                let content = try #require((choice["message"] as? [String: Any])?["content"] as? String)
                outputs.append((item.schema, content))

                guard index % 4 == 0 else { continue }
                let native = try await Self.post(server.port, "/completion", raw: #"{"prompt": "\#(item.prompt) JSON:", "n_predict": 96, "temperature": 0.7, "seed": \#(index), "json_schema": \#(item.schema)}"#)
                #expect(native.status == 200, "\(native.text)")
                let body = try native.json()
                #expect(body["stop_type"] as? String == "eos", "case \(index): \(native.text)")
                outputs.append((item.schema, body["content"] as? String ?? ""))
            }
        }
        let cases: [[String: Any]] = try outputs.map {
            ["schema": try JSONSerialization.jsonObject(with: Data($0.schema.utf8)), "output": $0.output]
        }
        let (status, report) = try JSONSchemaScript.check(cases)
        #expect(status == 0, "\(report)")
        #expect(report.contains("\(cases.count) of \(cases.count) outputs validate"), "\(report)")
    }

    @Test func jsonObjectGrammarAndStreamingAgree() async throws {
        try await withSmolLM2 { server in
            // Any JSON object, on the OpenAI completions route, streamed and whole alike.
            // Any JSON object, on the OpenAI completions route, whole and streamed alike (a few-shot prompt keeps a
            // small model from writing an endless object).
            let body = #"{"model": "smollm2", "prompt": "Person: {\"name\": \"Ann\", \"age\": 31}\nPerson: {\"name\": \"Bob\", \"age\": 45}\nPerson:", "max_tokens": 64, "temperature": 0, "response_format": {"type": "json_object"}}"#
            let whole = try await Self.post(server.port, "/v1/completions", raw: body)
            let choice = try #require((try whole.json()["choices"] as? [[String: Any]])?.first, "\(whole.text)")
            #expect(choice["finish_reason"] as? String == "stop", "\(whole.text)")
            let text = try #require(choice["text"] as? String)
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any], "\(text)")
            let streamed = try openAIStreamText(try await Self.post(server.port, "/v1/completions",
                                                                raw: body.replacingOccurrences(of: #""temperature": 0,"#, with: #""temperature": 0, "stream": true,"#)))
            #expect(streamed.text == text)
            #expect(streamed.finish == "stop")

            // A GBNF grammar on /completion: the output is one of its sentences.
            let gbnf = #"root ::= "The answer is " ("yes" | "no") "." "#
            let native = try await Self.post(server.port, "/completion", json: ["prompt": "Is water wet?", "grammar": gbnf, "n_predict": 20])
            let content = try native.json()["content"] as? String
            #expect(content == "The answer is yes." || content == "The answer is no.", "\(native.text)")
        }
    }

    @Test func badConstraintsAreRefusedByName() async throws {
        try await withSmolLM2 { server in
            let refused: [(body: String, field: String, says: String)] = [
                (Self.chatBody("x", extra: #""response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "string", "pattern": "^a+$"}}}"#),
                 "response_format.json_schema.schema", "pattern"),
                (#"{"prompt": "x", "grammar": "root ::= \"a"}"#, "grammar", "GBNF syntax error"),
                (#"{"prompt": "x", "grammar": "root ::= item\nitem ::= root \"a\""}"#, "grammar", "left-recursive"),
                (#"{"prompt": "x", "grammar": "root ::= \"a\"", "json_schema": {"type": "string"}}"#, "grammar", "cannot be combined"),
                (Self.chatBody("x", extra: #""response_format": {"type": "yaml"}"#), "response_format.type", "yaml"),
                (Self.chatBody("x", extra: #""response_format": {"type": "json_schema", "json_schema": {"name": "p"}}"#),
                 "response_format.json_schema.schema", "required"),
                (Self.chatBody("x", extra: #""tool_choice": "required""#), "tool_choice", "tools"),
                (Self.chatBody("x", extra: #""tools": \#(ToolTemplates.tools), "tool_choice": {"type": "function", "function": {"name": "nope"}}"#),
                 "tool_choice.function.name", "nope"),
            ]
            for item in refused {
                let path = item.body.contains("messages") ? "/v1/chat/completions" : "/completion"
                let response = try await Self.post(server.port, path, raw: item.body)
                #expect(response.status == 400, "\(item.body): \(response.text)")
                let message = ((try? response.json())?["error"] as? [String: Any])?["message"] as? String ?? ""
                #expect(message.contains(item.field) && message.contains(item.says), "\(item.body): \(message)")
            }
        }
    }

    static let toolsJSON = #"[{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"], "additionalProperties": false}}}, {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"], "additionalProperties": false}}}]"#

    /// Prompts with a `tool_choice` and the function it names (nil: any).
    static let toolRequests: [(prompt: String, choice: String, expected: String?)] = [
        ("What's the weather in Paris?", #""required""#, nil),
        ("What is 2 plus 3?", #"{"type": "function", "function": {"name": "add"}}"#, "add"),
        ("Weather in Oslo and in Rome?", #""required""#, nil),
    ]

    @Test func requiredAndNamedToolCallsAreValidCalls() async throws {
        let functions = try #require(try JSONSerialization.jsonObject(with: Data(Self.toolsJSON.utf8)) as? [[String: Any]])
        var schemas: [String: Any] = [:]
        for tool in functions {
            let function = try #require(tool["function"] as? [String: Any])
            schemas[try #require(function["name"] as? String)] = function["parameters"]
        }
        var calls: [(name: String, arguments: String)] = []
        try await withSmolLM2 { server in
            for request in Self.toolRequests {
                // One call per reply: a small model asked for several tends to repeat calls until max_tokens.
                let body = Self.chatBody(request.prompt, extra: #""tools": \#(Self.toolsJSON), "tool_choice": \#(request.choice), "parallel_tool_calls": false"#)
                calls += try await Self.checkToolCalls(port: server.port, body: body, expected: request.expected)
            }
        }
        var cases: [[String: Any]] = []
        for call in calls {
            let schema = try #require(schemas[call.name], "unknown tool \(call.name)")
            cases.append(["schema": schema, "output": call.arguments])
        }
        #expect(calls.count >= Self.toolRequests.count)
        let (status, report) = try JSONSchemaScript.check(cases)
        #expect(status == 0, "\(report)")
    }

    /// `auto` over a template with a call marker (Qwen2.5's `<tool_call>`): the model answers freely, but a call
    /// it starts is held to the tools' grammar. In this conversation SmolLM2 starts a call on its own but, left
    /// alone (`none` shows its raw text), writes a block with no function name in it; under `auto` the same
    /// start becomes a valid call. ("response" is banned so that it writes `<tool_call>`, not `<tool_response>`.)
    @Test func autoToolCallIsHeldToTheGrammarOnceStarted() async throws {
        let tool = #"{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}"#
        let messages = #"[{"role": "user", "content": "What is the weather in Berlin?"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Berlin\"}"}}]}, {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 12}"}, {"role": "assistant", "content": "It is 12 degrees in Berlin."}, {"role": "user", "content": "What is the weather in Paris?"}]"#
        func body(_ choice: String) -> String {
            #"{"model": "smollm2", "messages": \#(messages), "tools": [\#(tool)], "tool_choice": "\#(choice)", "max_tokens": 60, "temperature": 0, "logit_bias": {"7639": -100}}"#
        }
        var calls: [(name: String, arguments: String)] = []
        try await withSmolLM2(template: "Qwen-Qwen2.5-7B-Instruct") { server in
            let raw = try await Self.post(server.port, "/v1/chat/completions", raw: body("none"))
            let message = try #require(((try raw.json()["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any], "\(raw.text)")
            let text = try #require(message["content"] as? String, "\(raw.text)")
            #expect(text.contains("<tool_call>") && !text.contains("get_weather"), "the premise: \(text)")
            calls = try await Self.checkToolCalls(port: server.port, body: body("auto"), expected: "get_weather")
        }
        let schema = #"{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"#
        let cases = try calls.map { ["schema": try JSONSerialization.jsonObject(with: Data(schema.utf8)), "output": $0.arguments] }
        #expect(calls.count == 1)
        let (status, report) = try JSONSchemaScript.check(cases)
        #expect(status == 0, "\(report)")
    }

    /// Qwen3's template (it writes `<think>` blocks): the reply's reasoning goes to `reasoning_content`, whole and
    /// streamed, and `reasoning_format: "none"` keeps it in the content. A grammar scripts the reply, so SmolLM2
    /// writes what a reasoning model would.
    @Test func thinkBlocksGoToReasoningContent() async throws {
        let reply = "<think>\nThe user says hi. I should greet them.\n</think>\n\nHello there!"
        let grammar = "root ::= " + String(decoding: try JSONSerialization.data(withJSONObject: [reply], options: [.withoutEscapingSlashes]), as: UTF8.self)
            .dropFirst().dropLast()
        func body(_ extra: String) throws -> String {
            let object: [String: Any] = ["model": "smollm2", "messages": [["role": "user", "content": "Hi!"]], "max_tokens": 60,
                                         "temperature": 0, "grammar": grammar]
            var text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
            if !extra.isEmpty { text = String(text.dropLast()) + ", " + extra + "}" }
            return text
        }
        try await withSmolLM2(template: "Qwen-Qwen3-0.6B") { server in
            let whole = try await Self.post(server.port, "/v1/chat/completions", raw: try body(""))
            let message = try #require(((try whole.json()["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any], "\(whole.text)")
            #expect(message["reasoning_content"] as? String == "The user says hi. I should greet them.", "\(whole.text)")
            #expect(message["content"] as? String == "Hello there!", "\(whole.text)")

            let streamed = try await Self.post(server.port, "/v1/chat/completions", raw: try body(#""stream": true"#))
            var reasoning = "", content = ""
            for frame in streamed.sseData.dropLast() {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(frame.utf8)) as? [String: Any])
                for choice in object["choices"] as? [[String: Any]] ?? [] {
                    let delta = choice["delta"] as? [String: Any]
                    reasoning += delta?["reasoning_content"] as? String ?? ""
                    content += delta?["content"] as? String ?? ""
                }
            }
            #expect(reasoning == "The user says hi. I should greet them.")
            #expect(content == "Hello there!")

            let raw = try await Self.post(server.port, "/v1/chat/completions", raw: try body(#""reasoning_format": "none""#))
            let plain = try #require(((try raw.json()["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any], "\(raw.text)")
            #expect(plain["content"] as? String == reply && plain["reasoning_content"] == nil, "\(raw.text)")

            let bad = try await Self.post(server.port, "/v1/chat/completions", raw: try body(#""reasoning_format": "hidden""#))
            #expect(bad.status == 400 && bad.text.contains("reasoning_format"), "\(bad.text)")

            // A call after the reasoning: the reasoning is split off, the call parsed from what follows, whole and
            // streamed (the tool checks expect the stream's calls to equal the whole reply's).
            let call = "<think>\nA weather question.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
            let callGrammar = "root ::= " + String(decoding: try JSONSerialization.data(withJSONObject: [call], options: [.withoutEscapingSlashes]), as: UTF8.self)
                .dropFirst().dropLast()
            let tools = #"[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]"#
            let quotedGrammar = String(decoding: try JSONSerialization.data(withJSONObject: [callGrammar]), as: UTF8.self).dropFirst().dropLast()
            let callBody = #"{"model": "smollm2", "messages": [{"role": "user", "content": "Weather in Paris?"}], "max_tokens": 60, "temperature": 0, "grammar": \#(quotedGrammar), "tools": \#(tools)}"#
            let calls = try await Self.checkToolCalls(port: server.port, body: callBody, expected: "get_weather")
            #expect(calls.map(\.arguments) == [#"{"city": "Paris"}"#])
            let withCall = try await Self.post(server.port, "/v1/chat/completions", raw: callBody)
            let callMessage = try #require(((try withCall.json()["choices"] as? [[String: Any]])?.first?["message"]) as? [String: Any])
            #expect(callMessage["reasoning_content"] as? String == "A weather question.", "\(withCall.text)")
        }
    }

    /// One tool request (a chat body with `"temperature": 0,`), whole and streamed: both must be the same
    /// valid-looking calls, of `expected` when given; returns them.
    static func checkToolCalls(port: Int, body: String, expected: String?) async throws -> [(name: String, arguments: String)] {
        let reply = try await post(port, "/v1/chat/completions", raw: body)
        let first = try #require((try reply.json()["choices"] as? [[String: Any]])?.first, "\(reply.text)")
        #expect(first["finish_reason"] as? String == "tool_calls", "\(reply.text)")
        let calls = try #require((first["message"] as? [String: Any])?["tool_calls"] as? [[String: Any]], "\(reply.text)")
        #expect(!calls.isEmpty)
        var found: [(name: String, arguments: String)] = []
        for call in calls {
            #expect(call["type"] as? String == "function")
            #expect((call["id"] as? String)?.hasPrefix("call_") == true)
            let function = try #require(call["function"] as? [String: Any])
            let name = try #require(function["name"] as? String)
            if let expected { #expect(name == expected) }
            found.append((name, function["arguments"] as? String ?? ""))
        }

        // Streamed: deltas carrying each call (index, id, type, name, empty arguments; then the arguments).
        let streamed = try await post(port, "/v1/chat/completions",
                                      raw: body.replacingOccurrences(of: #""temperature": 0,"#, with: #""temperature": 0, "stream": true,"#))
        var names: [String] = [], arguments: [Int: String] = [:], finish: String?
        for frame in streamed.sseData.dropLast() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(frame.utf8)) as? [String: Any])
            for choice in object["choices"] as? [[String: Any]] ?? [] {
                if let reason = choice["finish_reason"] as? String { finish = reason }
                for delta in ((choice["delta"] as? [String: Any])?["tool_calls"] as? [[String: Any]]) ?? [] {
                    let index = try #require(delta["index"] as? Int)
                    let function = try #require(delta["function"] as? [String: Any])
                    if let name = function["name"] as? String {
                        #expect(delta["id"] is String && delta["type"] as? String == "function")
                        #expect(function["arguments"] as? String == "")
                        names.append(name)
                    } else {
                        arguments[index, default: ""] += function["arguments"] as? String ?? ""
                    }
                }
            }
        }
        #expect(streamed.sseData.last == "[DONE]")
        #expect(finish == "tool_calls")
        #expect(names == found.map(\.name))
        #expect(arguments.keys.sorted() == Array(0..<names.count))
        #expect(arguments[0] == found.first?.arguments)
        return found
    }
}

/// `scripts/check-json-outputs.py`: the jsonschema library's verdict on generated outputs.
enum JSONSchemaScript {
    static let available = python3Imports("jsonschema")

    /// Runs the script over `[{"schema", "output"}]`; its exit status and report.
    static func check(_ cases: [[String: Any]]) throws -> (Int32, String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nibble-json-outputs-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: cases).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try runScript("/usr/bin/env", ["python3", repositoryScript("check-json-outputs.py"), file.path])
    }
}
