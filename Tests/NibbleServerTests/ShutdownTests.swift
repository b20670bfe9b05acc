import Foundation
import NibbleTestSupport
import Testing

/// SIGTERM/SIGINT against `nibble serve` run as its own process, with generations running and queued.
@Suite struct ShutdownTests {
    static let maxTokens = 480

    /// The model that generates while the signal arrives: SmolLM2-135M, which takes seconds for 480 tokens on
    /// any CPU. The embedded 4M-parameter model can finish all of them before a loaded test process sends the
    /// signal, which would leave nothing running to cut short.
    static func serve(_ arguments: [String]) throws -> ServeProcess {
        try ServeProcess(["--model", RealModelFixtures.smolLM2GGUF!.path] + arguments)
    }

    static func streamingBody() throws -> Data {
        try JSONSerialization.data(withJSONObject: [
            "prompt": "In the beginning", "max_tokens": maxTokens, "stream": true, "ignore_eos": true,
            "temperature": 0, "stream_options": ["include_usage": true],
        ])
    }

    /// One generation running (the first data frame seen), three streams and one whole request queued behind it.
    static func startLoad(_ port: Int) async throws -> (streams: [RawHTTPConnection], whole: RawHTTPConnection) {
        try await onThread {
            let first = try RawHTTPConnection(port: port)
            try first.send(method: "POST", path: "/v1/completions", body: try streamingBody())
            _ = try first.read(until: "data: {")
            var streams = [first]
            for _ in 0..<3 {
                let connection = try RawHTTPConnection(port: port)
                try connection.send(method: "POST", path: "/v1/completions", body: try streamingBody())
                _ = try connection.read(until: "\r\n\r\n")  // headers go out at once; the generation waits
                streams.append(connection)
            }
            let whole = try RawHTTPConnection(port: port)
            try whole.send(method: "POST", path: "/v1/completions", body: try JSONSerialization.data(withJSONObject: [
                "prompt": "In the beginning", "max_tokens": maxTokens, "ignore_eos": true, "temperature": 0,
            ]))
            return (streams, whole)
        }
    }

    /// Waits until `/metrics` shows `count` requests that reached the engine (running, waiting or done): an
    /// event, not a guess at how long it takes.
    static func waitForAdmitted(_ count: Int, port: Int) async throws {
        for _ in 0..<600 {
            let lines = try await http(port, "GET", "/metrics").text.split(separator: "\n")
            func value(_ prefix: String) -> Int {
                lines.first { $0.hasPrefix(prefix + " ") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            }
            let admitted = value("nibble_queue_depth") + value("nibble_requests_active")
                + value("nibble_generations_total{outcome=\"completed\"}")
            if admitted >= count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestHTTPError("fewer than \(count) requests reached the engine")
    }

    @Test(.enabled(if: RealModelFixtures.smolLM2GGUF != nil, Comment(rawValue: RealModelFixtures.smolLM2Missing)))
    func sigtermEndsEveryStreamWithAFinalChunkAndDoneThenExitsZero() async throws {
        let server = try Self.serve(["--parallel", "1", "--shutdown-timeout", "1"])
        let (streams, whole) = try await Self.startLoad(server.port)
        // The queued requests must have reached the engine before the signal.
        try await Self.waitForAdmitted(5, port: server.port)
        server.send(signal: SIGTERM)
        let responses = try await onThread { try streams.map { try $0.readResponse() } }
        var cutShort = 0
        for response in responses {
            #expect(response.status == 200)
            let parsed = try openAIStreamText(response)  // throws unless the last frame is [DONE]
            #expect(parsed.finish != nil, "no final chunk with a finish_reason")
            let completion = try #require(parsed.usage?["completion_tokens"] as? Int)
            if completion < Self.maxTokens {
                #expect(parsed.finish == "length")
                cutShort += 1
            }
        }
        // Four generations of 480 tokens of SmolLM2, one at a time, cannot all finish within the 1 s timeout.
        #expect(cutShort >= 1)
        let wholeResponse = try await onThread { try whole.readResponse() }
        #expect(wholeResponse.status == 503)
        #expect(((try? wholeResponse.json())?["error"] as? [String: Any])?["type"] as? String == "unavailable_error")
        let status = await Task.detached { server.exitStatus(within: 30) }.value
        #expect(status == 0, "\(server.stderr)")
        #expect(server.stderr.contains("shutting down"))
    }

    @Test func sigintWithNothingRunningExitsZero() async throws {
        let server = try ServeProcess([])
        let health = try await http(server.port, "GET", "/health")
        #expect(health.status == 200)
        server.send(signal: SIGINT)
        let status = await Task.detached { server.exitStatus(within: 30) }.value
        #expect(status == 0, "\(server.stderr)")
    }

    @Test(.enabled(if: RealModelFixtures.smolLM2GGUF != nil, Comment(rawValue: RealModelFixtures.smolLM2Missing)))
    func aSecondSignalExitsAtOnce() async throws {
        let server = try Self.serve(["--parallel", "1", "--shutdown-timeout", "600"])
        let (streams, _) = try await Self.startLoad(server.port)
        server.send(signal: SIGTERM)
        try await Task.sleep(for: .milliseconds(200))
        #expect(server.isRunning, "the first signal waits for the running generations")
        server.send(signal: SIGTERM)
        // A liveness bound, not a timing measurement: without the second signal it would run ~600 s.
        let status = await Task.detached { server.exitStatus(within: 20) }.value
        #expect(status == 128 + SIGTERM)
        _ = streams
    }
}
