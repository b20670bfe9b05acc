import Foundation
import Testing

/// HTTP/1.0 clients, `Expect: 100-continue`, half-closing clients and methods no route takes, against the real
/// `nibble serve` (embedded model).
@Suite struct HTTP1ConformanceTests {
    let server: ServeProcess

    init() throws { server = try ServeProcess([]) }

    func connect() throws -> RawHTTPConnection {
        let connection = try RawHTTPConnection(port: server.port)
        connection.setReceiveTimeout(seconds: 30)
        return connection
    }

    static func completionBody(stream: Bool) -> String {
        #"{"prompt": "In the beginning", "max_tokens": 8, "temperature": 0, "stream": \#(stream)}"#
    }

    static func post(_ path: String, _ body: String, version: String = "1.1", extraHeaders: String = "") -> Data {
        Data(("POST \(path) HTTP/\(version)\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              + "Content-Length: \(body.utf8.count)\r\n\(extraHeaders)\r\n\(body)").utf8)
    }

    @Test func http10IsAnsweredWithALengthAndClosed() throws {
        let connection = try connect()
        try connection.send(raw: Data("GET /health HTTP/1.0\r\n\r\n".utf8))
        // Reading to the end only returns because the server closes the connection.
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(connection.received.hasPrefix("HTTP/1.0 200"))
        #expect(response.headers["transfer-encoding"] == nil)
        #expect(response.headers["content-length"] == String(response.body.count))
        #expect(try response.json()["status"] as? String == "ok")
    }

    @Test func http10StreamsAreCloseDelimitedNotChunked() throws {
        let connection = try connect()
        try connection.send(raw: Self.post("/v1/completions", Self.completionBody(stream: true), version: "1.0"))
        let response = try connection.readResponse()
        #expect(connection.received.hasPrefix("HTTP/1.0 200"))
        #expect(response.headers["transfer-encoding"] == nil && response.headers["content-length"] == nil)
        #expect(response.headers["connection"]?.lowercased() == "close")
        let frames = response.sseData
        #expect(frames.last == "[DONE]" && frames.count > 2, "\(response.text)")
        #expect(!response.text.contains("\r\n0\r\n"))
    }

    @Test func http10KeepAliveKeepsTheConnectionForRequestsWithALength() throws {
        let connection = try connect()
        for _ in 0..<2 {
            try connection.send(raw: Data("GET /v1/models HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8))
            #expect(try connection.read(until: "\r\n\r\n").hasPrefix("HTTP/1.0 200"))
            let response = try connection.readLengthDelimitedResponse()
            #expect(response.headers["connection"]?.lowercased() == "keep-alive")
            #expect(try response.json()["data"] is [Any])
        }
        #expect(!connection.waitForClose(seconds: 0.2))
    }

    @Test func expectContinueGets100BeforeTheBody() throws {
        let connection = try connect()
        let body = Self.completionBody(stream: false)
        try connection.send(raw: Data(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                       + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").utf8))
        // The body is held back until the server asks for it, as curl does for large bodies.
        let interim = try connection.read(until: "\r\n\r\n")
        #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"))
        connection.clear()
        try connection.send(raw: Data(body.utf8))
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(((try response.json()["choices"] as? [[String: Any]])?.first?["text"] as? String)?.isEmpty == false)

        let other = try connect()
        try other.send(raw: Self.post("/v1/completions", body, extraHeaders: "Expect: something-else\r\n"))
        let refused = try other.readResponse()
        #expect(refused.status == 417)
        #expect((try refused.json()["error"] as? [String: Any])?["message"] as? String != nil)

        // A body announced over the limit (1 MiB by default) is refused before it is asked for.
        let large = try connect()
        try large.send(raw: Data(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                  + "Content-Length: \(2 << 20)\r\nExpect: 100-continue\r\n\r\n").utf8))
        let tooLarge = try large.readResponse()
        #expect(tooLarge.status == 413)
        #expect(!large.received.contains("100 Continue"))
    }

    @Test func aClientThatHalfClosesAfterItsRequestGetsTheWholeAnswer() throws {
        for stream in [false, true] {
            let connection = try connect()
            try connection.send(raw: Self.post("/v1/completions", Self.completionBody(stream: stream)))
            connection.closeWrite()
            let response = try connection.readResponse()
            #expect(response.status == 200, "stream: \(stream)")
            if stream {
                #expect(response.sseData.last == "[DONE]", "\(response.text)")
            } else {
                #expect((try response.json()["usage"] as? [String: Any])?["completion_tokens"] as? Int == 8)
            }
        }
    }

    @Test func connectAndUnknownMethodsAreRefusedAndClosed() throws {
        for (request, statuses) in [("CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", [405]),
                                    ("PROPFIND /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", [405]),
                                    ("TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", [405]),
                                    ("BREW /pot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", [400, 405])] {
            let connection = try connect()
            try connection.send(raw: Data(request.utf8))
            #expect(connection.waitForClose(seconds: 10), "\(request) left the connection open")
            let response = try HTTPTestResponse(raw: Data(connection.received.utf8))
            #expect(statuses.contains(response.status), "\(request): \(connection.received)")
        }
    }
}
