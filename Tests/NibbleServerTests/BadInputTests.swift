import Foundation
import NibbleEngine
@testable import NibbleServer
import NibbleTestFakes
import Testing

/// Hostile and careless requests against the running server: each gets the right 4xx with the error envelope,
/// and the server keeps serving afterwards.
@Suite struct BadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var method = "POST"
        var path = "/v1/completions"
        var body: Data?
        var status: Int
        /// Text the error message must contain (usually the parameter's wire name).
        var mentions: String?

        var description: String { name }

        static func json(_ name: String, path: String = "/v1/completions", _ object: [String: Any], status: Int = 400,
                         mentions: String? = nil) -> Case {
            Case(name: name, path: path, body: try! JSONSerialization.data(withJSONObject: object), status: status,
                 mentions: mentions)
        }

        static func raw(_ name: String, path: String = "/v1/completions", _ text: String, status: Int = 400,
                        mentions: String? = nil) -> Case {
            Case(name: name, path: path, body: Data(text.utf8), status: status, mentions: mentions)
        }
    }

    static let chat = "/v1/chat/completions"

    static let cases: [Case] = [
        // Not JSON, or not an object.
        .raw("truncated JSON", "{\"prompt\": "),
        .raw("empty body", ""),
        .raw("a JSON array", "[1, 2, 3]"),
        .raw("a bare string", "\"hello\""),
        .raw("null", "null"),
        .raw("number too large for any type", "{\"prompt\": \"x\", \"max_tokens\": 1e400}"),
        .raw("deeply nested arrays", "{\"prompt\": \"x\", \"extra\": " + String(repeating: "[", count: 100_000)
            + String(repeating: "]", count: 100_000) + "}"),
        .raw("deeply nested objects", String(repeating: "{\"a\":", count: 30_000) + "1" + String(repeating: "}", count: 30_000)),
        Case(name: "invalid UTF-8 inside a string", body: Data("{\"prompt\": \"".utf8) + Data([0xFF, 0xFE, 0xC3])
            + Data("\"}".utf8), status: 400),
        Case(name: "a lone surrogate escape", body: Data("{\"prompt\": \"\\uD800\"}".utf8), status: 400),
        // Wrong types.
        .json("prompt is a number", ["prompt": 42], mentions: "prompt"),
        .json("prompt is an object", ["prompt": ["text": "x"]], mentions: "prompt"),
        .json("max_tokens is a string", ["prompt": "x", "max_tokens": "ten"], mentions: "max_tokens"),
        .json("max_tokens is fractional", ["prompt": "x", "max_tokens": 2.5], mentions: "max_tokens"),
        .json("stream is a string", ["prompt": "x", "stream": "yes"], mentions: "stream"),
        .json("stop is an object", ["prompt": "x", "stop": ["a": 1]], mentions: "stop"),
        .json("messages is a string", path: chat, ["messages": "hi"], mentions: "messages"),
        .json("message content is a number", path: chat, ["messages": [["role": "user", "content": 7]]], mentions: "content"),
        .json("unknown role", path: chat, ["messages": [["role": "wizard", "content": "x"]]], mentions: "role"),
        .json("model is a number", ["prompt": "x", "model": 3], mentions: "model"),
        // Out of range or absurd.
        .json("negative max_tokens", ["prompt": "x", "max_tokens": -1], mentions: "max_tokens"),
        .json("zero max_tokens", ["prompt": "x", "max_tokens": 0], mentions: "max_tokens"),
        .json("max_tokens beyond Int64", ["prompt": "x", "max_tokens": 1e30], mentions: "max_tokens"),
        .json("negative temperature", ["prompt": "x", "temperature": -0.5], mentions: "temperature"),
        .json("absurd temperature", ["prompt": "x", "temperature": 1e39], mentions: "temperature"),
        .json("top_p above 1", ["prompt": "x", "top_p": 1.5], mentions: "top_p"),
        .json("negative top_k", ["prompt": "x", "top_k": -3], mentions: "top_k"),
        .json("min_p above 1", ["prompt": "x", "min_p": 2], mentions: "min_p"),
        .json("zero repetition penalty", ["prompt": "x", "repetition_penalty": 0], mentions: "repetition_penalty"),
        .json("presence_penalty out of range", ["prompt": "x", "presence_penalty": 9], mentions: "presence_penalty"),
        .json("n below 1", ["prompt": "x", "n": 0], mentions: "'n'"),
        .json("n times prompts above 128", ["prompt": ["a", "b"], "n": 100], mentions: "'n'"),
        .json("logprobs above 20", ["prompt": "x", "logprobs": 21], mentions: "logprobs"),
        .json("logprobs true on completions", ["prompt": "x", "logprobs": true], mentions: "logprobs"),
        .json("top_logprobs without logprobs", path: chat, ["messages": [["role": "user", "content": "x"]], "top_logprobs": 2],
              mentions: "top_logprobs"),
        .json("top_logprobs above 20", path: chat, ["messages": [["role": "user", "content": "x"]], "logprobs": true,
                                                    "top_logprobs": 21], mentions: "top_logprobs"),
        .json("max_tokens 0 without echo", ["prompt": "x", "max_tokens": 0, "logprobs": 1], mentions: "max_tokens"),
        .json("logit_bias on an unknown token", ["prompt": "x", "logit_bias": ["99999": 5]], mentions: "logit_bias"),
        .json("logit_bias key that is no id", ["prompt": "x", "logit_bias": ["hello": 5]], mentions: "logit_bias"),
        .json("logit_bias above 100", ["prompt": "x", "logit_bias": ["65": 101]], mentions: "logit_bias"),
        .json("chat logit_bias below -100", path: chat, ["messages": [["role": "user", "content": "x"]],
                                                         "logit_bias": ["65": -250]], mentions: "logit_bias"),
        .json("llama.cpp logit_bias id outside", path: "/completion", ["prompt": "x", "logit_bias": [[99_999, 1]]],
              mentions: "logit_bias"),
        .json("llama.cpp logit_bias true", path: "/completion", ["prompt": "x", "logit_bias": [[65, true]]],
              mentions: "logit_bias"),
        .json("llama.cpp n_probs above 20", path: "/completion", ["prompt": "x", "n_probs": 50], mentions: "n_probs"),
        .json("logit_bias banning every token", ["prompt": "x", "max_tokens": 2,
                                                 "logit_bias": Dictionary(uniqueKeysWithValues: (0..<FakeTokenizer().vocabularySize).map { ("\($0)", -100) })],
              mentions: "logit_bias"),
        .json("logit_bias banning every token the grammar allows", path: "/completion",
              ["prompt": "x", "n_predict": 2, "grammar": "root ::= \"a\"", "logit_bias": [[FakeTokenizer.byte(UInt8(ascii: "a")), false]]],
              mentions: "logit_bias"),
        .json("llama.cpp token id outside in the second of several prompts", path: "/completion", ["prompt": ["a", [1, 99_999]]],
              mentions: "prompt[1]"),
        .json("llama.cpp token ids around a list", path: "/completion", ["prompt": [1, ["a"]]], mentions: "prompt"),
        .json("llama.cpp too many prompts", path: "/completion", ["prompt": Array(repeating: "a", count: 1000)], mentions: "prompts per request"),
        .json("llama.cpp mixed prompt id outside", path: "/completion", ["prompt": ["a", 99_999]], mentions: "prompt"),
        .json("a token id outside in a list of prompts", ["prompt": [[65, 66], [1, 99_999]]], mentions: "prompt[1]"),
        .json("an empty list of prompts", ["prompt": [String]()], mentions: "prompt"),
        .json("llama.cpp n_predict below -1", path: "/completion", ["prompt": "x", "n_predict": -7], mentions: "n_predict"),
        .json("prompt token id outside the vocabulary", ["prompt": [1, 99_999]], mentions: "prompt"),
        // Empty or too much.
        .json("missing prompt", ["max_tokens": 3], mentions: "prompt"),
        .json("empty messages", path: chat, ["messages": [[String: Any]]()], mentions: "messages"),
        .json("an empty stop string", ["prompt": "x", "stop": [""]], mentions: "stop"),
        .json("thousands of stop strings", ["prompt": "x", "stop": (0..<5000).map { "stop \($0)" }], mentions: "stop"),
        .json("a huge stop string", ["prompt": "x", "stop": [String(repeating: "s", count: 5000)]], mentions: "stop"),
        .json("a prompt longer than the context", ["prompt": String(repeating: "a", count: 400)], status: 400, mentions: "context"),
        .json("an unknown model", ["prompt": "x", "model": "no-such-model"], status: 404, mentions: "no-such-model"),
        .json("a body over the limit", ["prompt": String(repeating: "a", count: 300_000)], status: 413),
        // Routes and methods.
        Case(name: "unknown route", method: "GET", path: "/v2/everything", status: 404),
        Case(name: "unknown POST route", path: "/v1/embeddings", body: Data("{}".utf8), status: 404),
        Case(name: "GET on a POST route", method: "GET", path: "/v1/completions", status: 405, mentions: "POST"),
        Case(name: "DELETE on health", method: "DELETE", path: "/health", status: 405, mentions: "GET"),
    ]

    @Test func everyBadRequestGetsItsStatusAndTheServerKeepsServing() async throws {
        try await withServer(models: ["fake": ScriptedModel(maxContextLength: 256)],
                             configure: { $0.maxBodyBytes = 256 * 1024 }) { server in
            for bad in Self.cases {
                let response = try await http(server.port, bad.method, bad.path, bytes: bad.body)
                #expect(response.status == bad.status, "\(bad.name): \(response.text)")
                let error = (try? response.json())?["error"] as? [String: Any]
                #expect(error?["code"] as? Int == bad.status, "\(bad.name): \(response.text)")
                #expect(error?["type"] is String, "\(bad.name)")
                if let mentions = bad.mentions {
                    let message = error?["message"] as? String ?? ""
                    #expect(message.contains(mentions), "\(bad.name): '\(message)' should mention \(mentions)")
                }
                // Still alive and still generating after each one.
                #expect(try await http(server.port, "GET", "/health").status == 200, "\(bad.name)")
            }
            let wrongMethod = try await http(server.port, "GET", "/v1/completions")
            #expect(wrongMethod.headers["allow"] == "POST")
            let ok = try await http(server.port, "POST", "/v1/completions", json: ["prompt": "Hello", "max_tokens": 4])
            #expect(ok.status == 200)
            #expect(server.scheduler.stats.active == 0)
            #expect(server.metrics.count(endpoint: "/v1/completions", status: 500) == 0)
        }
    }

    @Test func nullParametersMeanDefaults() async throws {
        try await withServer(models: ["fake": ScriptedModel()]) { server in
            let response = try await http(server.port, "POST", "/v1/completions", json: [
                "prompt": "Hello", "max_tokens": 3, "temperature": NSNull(), "top_p": NSNull(), "stop": NSNull(),
                "seed": NSNull(), "model": NSNull(),
                // Unseeded default sampling may pick the end of text; the count is what is checked here.
                "ignore_eos": true,
            ])
            #expect(response.status == 200, "\(response.text)")
            #expect(((try response.json()["usage"] as? [String: Any])?["completion_tokens"] as? Int) == 3)
        }
    }
}

/// Connections that stall are closed on the server's clock, not the client's.
@Suite struct SlowClientTests {
    static func configure(_ configuration: inout ServerConfiguration) {
        configuration.idleTimeoutSeconds = 1
        configuration.requestTimeoutSeconds = 0.3
    }

    /// Seconds until the server closes the connection (reads until end of stream).
    static func secondsUntilClosed(_ connection: RawHTTPConnection) throws -> (Double, String) {
        let start = Date()
        // A reset is a close too; a client-side timeout (10 s) shows up in the elapsed time.
        do { while try connection.readMore() {} } catch {}
        return (Date().timeIntervalSince(start), connection.received)
    }

    @Test func anIdleConnectionIsClosed() async throws {
        try await withServer(models: ["fake": ScriptedModel()], configure: Self.configure) { server in
            let port = server.port
            let (seconds, received) = try await onThread {
                try Self.secondsUntilClosed(try RawHTTPConnection(port: port))
            }
            #expect(seconds < 3)
            #expect(received.isEmpty)
        }
    }

    @Test func aRequestHeadThatNeverEndsIsClosed() async throws {
        try await withServer(models: ["fake": ScriptedModel()], configure: Self.configure) { server in
            let port = server.port
            let (seconds, _) = try await onThread {
                let connection = try RawHTTPConnection(port: port)
                try connection.send(raw: Data("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n".utf8))
                return try Self.secondsUntilClosed(connection)
            }
            #expect(seconds < 3)
        }
    }

    @Test func aBodyThatTricklesGets408() async throws {
        // The idle deadline is far beyond the body's, so a busy machine cannot let the idle close come first.
        try await withServer(models: ["fake": ScriptedModel()], configure: {
            $0.idleTimeoutSeconds = 20
            $0.requestTimeoutSeconds = 0.3
        }) { server in
            let port = server.port
            let (seconds, received) = try await onThread {
                let connection = try RawHTTPConnection(port: port)
                try connection.send(raw: Data(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\": ").utf8))
                return try Self.secondsUntilClosed(connection)
            }
            #expect(seconds < 10)
            let response = try HTTPTestResponse(raw: Data(received.utf8))
            #expect(response.status == 408)
            #expect((try response.json()["error"] as? [String: Any])?["code"] as? Int == 408)
            // The server is fine afterwards.
            #expect(try await http(server.port, "POST", "/v1/completions", json: ["prompt": "Hi", "max_tokens": 2]).status == 200)
        }
    }
}
