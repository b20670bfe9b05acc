import Foundation
import NibbleTestFakes
import NibbleTestSupport
import Testing
@testable import NibbleServer

/// Seeded random request bodies against the running server: whatever arrives, the answer is a 200 or a 4xx
/// with the error envelope, never a 5xx or a dropped connection, and the server keeps serving.
@Suite struct RequestFuzzTests {
    static let routes = ["/v1/completions", "/v1/chat/completions", "/completion", "/tokenize", "/detokenize"]
    static let fields = [
        "prompt", "messages", "model", "max_tokens", "n_predict", "temperature", "top_p", "top_k", "min_p",
        "repetition_penalty", "repeat_penalty", "frequency_penalty", "presence_penalty", "seed", "stop", "stream",
        "stream_options", "ignore_eos", "n", "content", "tokens", "add_special", "max_completion_tokens",
        "logprobs", "top_logprobs", "echo", "logit_bias", "n_probs",
    ]

    /// A random JSON value, favouring the shapes the API uses (small numbers, short strings, lists of them).
    static func value(_ rng: inout SeededRandom, depth: Int = 0) -> Any {
        switch Int.random(in: 0..<(depth > 2 ? 7 : 9), using: &rng) {
        case 0: return NSNull()
        case 1: return Bool.random(using: &rng)
        case 2: return Int.random(in: -3...40, using: &rng)
        case 3: return [Int.min, Int.max, -1, 0, 1 << 40, 100_000].randomElement(using: &rng)!
        case 4: return [Double.random(in: -2...3, using: &rng), 1e30, -0.0, 1e-30].randomElement(using: &rng)!
        case 5: return ["", "Hello", "###", "\u{0}", "🦙", String(repeating: "ab", count: 300), "\u{FEFF}x"].randomElement(using: &rng)!
        case 6: return String((0..<Int.random(in: 0...12, using: &rng)).map { _ in
            Character(Unicode.Scalar(UInt8.random(in: 32...126, using: &rng))) })
        case 7: return (0..<Int.random(in: 0...4, using: &rng)).map { _ in value(&rng, depth: depth + 1) }
        default:
            var object: [String: Any] = [:]
            for _ in 0..<Int.random(in: 0...3, using: &rng) {
                object[["role", "content", "include_usage", "type", "text"].randomElement(using: &rng)!] = value(&rng, depth: depth + 1)
            }
            return object
        }
    }

    /// The fields `route` takes: a field it does not know is refused by name, so the fuzz mostly stays with the
    /// route's own fields (one in eight bodies keeps a stray field from another route).
    static func known(_ route: String) -> Set<String> {
        switch route {
        case "/v1/completions": return CompletionRequestDTO.knownKeys
        case "/v1/chat/completions": return ChatCompletionRequestDTO.knownKeys
        case "/completion": return LlamaCompletionRequestDTO.knownKeys
        case "/tokenize": return TokenizeRequestDTO.knownKeys
        default: return DetokenizeRequestDTO.knownKeys
        }
    }

    /// A body: usually a JSON object of known fields with random values, sometimes raw bytes mutated from one.
    static func body(_ rng: inout SeededRandom, route: String) -> Data {
        var object: [String: Any] = [:]
        for _ in 0..<Int.random(in: 0...6, using: &rng) {
            object[fields.randomElement(using: &rng)!] = value(&rng)
        }
        if Bool.random(using: &rng) { object["prompt"] = "Hello" }
        if Int.random(in: 0..<4, using: &rng) == 0 { object["messages"] = [["role": "user", "content": "Hi"]] }
        if object["max_tokens"] == nil { object["max_tokens"] = 4 }  // keep generations short
        if Int.random(in: 0..<8, using: &rng) != 0 {
            let keys = known(route)
            object = object.filter { keys.contains($0.key) }
        }
        var data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data("{}".utf8)
        switch Int.random(in: 0..<6, using: &rng) {
        case 0 where !data.isEmpty:  // flip bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                data[Int.random(in: 0..<data.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
        case 1 where data.count > 1:  // truncate
            data = data.prefix(Int.random(in: 0..<data.count, using: &rng))
        default:
            break
        }
        return data
    }

    @Test func randomBodiesGet200Or4xxAndTheServerSurvives() async throws {
        var rng = SeededRandom(seed: 20_261_122)
        try await withServer(models: ["fake": ScriptedModel()], configure: { $0.maxBodyBytes = 64 * 1024 }) { server in
            var statuses: [Int: Int] = [:]
            for index in 0..<400 {
                let route = Self.routes.randomElement(using: &rng)!
                let body = Self.body(&rng, route: route)
                let response = try await http(server.port, "POST", route, bytes: body)
                statuses[response.status, default: 0] += 1
                let shown = String(decoding: body.prefix(300), as: UTF8.self)
                #expect(response.status == 200 || (400..<500).contains(response.status),
                        "case \(index) \(route) \(shown) → \(response.status) \(response.text.prefix(300))")
                if response.status != 200 {
                    let error = (try? response.json())?["error"] as? [String: Any]
                    #expect(error?["code"] as? Int == response.status, "case \(index) \(route) \(shown)")
                }
            }
            // Both outcomes happen, so the corpus exercises the happy path as well as the errors.
            #expect(statuses[200, default: 0] > 20)
            #expect(statuses[400, default: 0] > 20)
            #expect(try await http(server.port, "GET", "/health").status == 200)
            #expect(await eventually { server.scheduler.stats.active == 0 })
        }
    }
}
