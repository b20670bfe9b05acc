import Foundation
import Testing

/// The connection limit of the real `nibble serve`: idle keep-alive connections beyond it cannot lock clients out.
@Suite struct ConnectionLimitTests {
    static func health(_ port: Int) throws -> HTTPTestResponse {
        let connection = try RawHTTPConnection(port: port)
        // A bound on a real wait, not a speed claim: without the limit this request is never answered.
        connection.setReceiveTimeout(seconds: 1)
        try connection.send(method: "GET", path: "/health")
        return try connection.readResponse()
    }

    @Test func idleConnectionsBeyondTheLimitMakeRoomAndHealthStillAnswers() throws {
        let server = try ServeProcess(["--max-connections", "32"])
        var idle: [RawHTTPConnection] = []
        for _ in 0..<100 { idle.append(try RawHTTPConnection(port: server.port)) }
        // One used connection among them: after its response it is idle too, and may be closed as well.
        try idle[99].send(raw: Data("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
        _ = try idle[99].read(until: "\r\n\r\n")
        #expect(try Self.health(server.port).status == 200)
        // The oldest idle connections were closed to admit the newer ones; at most 32 stay open.
        #expect(idle[0].waitForClose(seconds: 5))
        let open = idle.filter { !$0.waitForClose(seconds: 0.05) }.count
        #expect(open <= 32 && open > 0, "\(open) client connections still open")
        #expect(server.isRunning)
    }

    @Test func whenEveryConnectionIsBusyANewOneIsClosedAtOnce() throws {
        let server = try ServeProcess(["--max-connections", "4", "--request-timeout", "30"])
        // Four requests whose bodies never come: each holds its connection busy. `100 Continue` shows the server
        // has read the head, so the connection counts as busy from then on.
        var busy: [RawHTTPConnection] = []
        for _ in 0..<4 {
            let connection = try RawHTTPConnection(port: server.port)
            try connection.send(raw: Data(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                           + "Content-Length: 100\r\nExpect: 100-continue\r\n\r\n").utf8))
            _ = try connection.read(until: "100 Continue\r\n\r\n")
            busy.append(connection)
        }
        let late = try RawHTTPConnection(port: server.port)
        // A bound, not a timing: the close comes at once, but a loaded machine may be slow to schedule it.
        #expect(late.waitForClose(seconds: 30), "a connection beyond the limit must be closed, not left waiting")
        #expect(late.received.isEmpty)
        for connection in busy { #expect(!connection.waitForClose(seconds: 0.05)) }
        // Once a busy client leaves, new connections are served again, and the refusal was counted.
        busy[0].hangUp()
        #expect(try Self.refused(server.port) >= 1)
    }

    /// `nibble_connections_closed_total{reason="refused"}`; reading it takes a connection, which may itself be
    /// refused at the limit, so it retries.
    static func refused(_ port: Int) throws -> Int {
        for _ in 0..<50 {
            guard let connection = try? RawHTTPConnection(port: port),
                  (try? connection.send(method: "GET", path: "/metrics")) != nil,
                  let response = try? connection.readResponse(), response.status == 200 else {
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            for line in response.text.split(separator: "\n") where line.hasPrefix("nibble_connections_closed_total{reason=\"refused\"}") {
                return Int(line.split(separator: " ").last ?? "") ?? -1
            }
        }
        throw TestHTTPError("no refused-connection count in /metrics")
    }
}
