import Foundation
import Testing

/// What a web page can make the real `nibble serve` do: nothing, unless its origin (and, for names, its host)
/// is configured.
@Suite struct BrowserSafetyTests {
    /// One request with exactly these headers (the test client adds only `Connection: close`).
    static func request(_ port: Int, _ method: String, _ path: String, host: String? = "127.0.0.1",
                        headers: [(String, String)] = [], body: String? = nil) throws -> HTTPTestResponse {
        let connection = try RawHTTPConnection(port: port)
        connection.setReceiveTimeout(seconds: 30)
        var head = "\(method) \(path) HTTP/1.1\r\nConnection: close\r\n"
        if let host { head += "Host: \(host)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
        try connection.send(raw: Data((head + "\r\n" + (body ?? "")).utf8))
        return try connection.readResponse()
    }

    static let completion = #"{"prompt": "In the beginning", "max_tokens": 2, "temperature": 0}"#

    @Test func jsonRoutesTakeOnlyApplicationJSON() throws {
        let server = try ServeProcess([])
        for contentType in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                            "application/jsonp", "application/json-seq"] {
            let response = try Self.request(server.port, "POST", "/v1/completions", headers: [("Content-Type", contentType)],
                                            body: Self.completion)
            #expect(response.status == 415, "\(contentType)")
            #expect((try response.json()["error"] as? [String: Any])?["message"] as? String != nil)
        }
        let missing = try Self.request(server.port, "POST", "/tokenize", body: #"{"content": "x"}"#)
        #expect(missing.status == 415)
        for contentType in ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"] {
            let response = try Self.request(server.port, "POST", "/v1/completions", headers: [("Content-Type", contentType)],
                                            body: Self.completion)
            #expect(response.status == 200, "\(contentType): \(response.text)")
        }
    }

    @Test func hostMustNameThisServer() throws {
        let server = try ServeProcess(["--allowed-host", "nibble.lan"])
        let port = server.port
        for host in ["127.0.0.1", "127.0.0.1:\(port)", "localhost", "LOCALHOST:\(port)", "[::1]", "[::1]:\(port)",
                     "192.168.1.20:\(port)", "nibble.lan", "Nibble.LAN:\(port)"] {
            #expect(try Self.request(port, "GET", "/health", host: host).status == 200, "\(host)")
        }
        for host in ["evil.example", "evil.example:\(port)", "nibble.lan.evil.example", "localhost.evil.example", ""] {
            let response = try Self.request(port, "GET", "/v1/models", host: host)
            #expect(response.status == 403, "\(host)")
            #expect(response.text.contains("allowed_hosts"))
        }
        let any = try ServeProcess(["--allowed-host", "*"])
        #expect(try Self.request(any.port, "GET", "/health", host: "anything.example").status == 200)
    }

    @Test func corsIsOffByDefault() throws {
        let server = try ServeProcess([])
        let preflight = try Self.request(server.port, "OPTIONS", "/v1/completions", headers: [
            ("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type")])
        #expect(preflight.status == 403)
        #expect(preflight.headers["access-control-allow-origin"] == nil)
        let get = try Self.request(server.port, "GET", "/v1/models", headers: [("Origin", "https://evil.example")])
        #expect(get.status == 403)
        #expect(get.headers["access-control-allow-origin"] == nil)
        // Clients that are not browsers send no Origin and are served.
        #expect(try Self.request(server.port, "GET", "/v1/models").status == 200)
    }

    @Test func allowedOriginsGetPreflightsAndHeadersOthersDoNot() throws {
        let server = try ServeProcess(["--cors-allowed-origin", "https://app.example", "--api-key", "sekret"])
        let origin = ("Origin", "https://app.example")
        let preflight = try Self.request(server.port, "OPTIONS", "/v1/chat/completions", headers: [
            origin, ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "authorization, content-type")])
        #expect(preflight.status == 204)
        #expect(preflight.headers["access-control-allow-origin"] == "https://app.example")
        let methods = preflight.headers["access-control-allow-methods"] ?? ""
        #expect(methods.contains("POST") && methods.contains("GET"))
        let allowed = (preflight.headers["access-control-allow-headers"] ?? "").lowercased()
        #expect(allowed.contains("authorization") && allowed.contains("content-type"))

        let models = try Self.request(server.port, "GET", "/v1/models", headers: [origin, ("Authorization", "Bearer sekret")])
        #expect(models.status == 200)
        #expect(models.headers["access-control-allow-origin"] == "https://app.example")
        // Errors carry the header too, so the page can read why.
        let unauthorized = try Self.request(server.port, "GET", "/v1/models", headers: [origin])
        #expect(unauthorized.status == 401)
        #expect(unauthorized.headers["access-control-allow-origin"] == "https://app.example")
        let completion = try Self.request(server.port, "POST", "/v1/completions", headers: [
            origin, ("Authorization", "Bearer sekret"), ("Content-Type", "application/json")], body: Self.completion)
        #expect(completion.status == 200)
        #expect(completion.headers["access-control-allow-origin"] == "https://app.example")

        let other = try Self.request(server.port, "OPTIONS", "/v1/completions", headers: [
            ("Origin", "https://app.example.evil"), ("Access-Control-Request-Method", "POST")])
        #expect(other.status == 403)
        #expect(other.headers["access-control-allow-origin"] == nil)
    }

    @Test func badBrowserSettingsAreStartupErrors() throws {
        let origin = try serveFailure(["--cors-allowed-origin", "app.example/"])
        #expect(origin.status != nil && origin.status != 0)
        #expect(origin.stderr.contains("--cors-allowed-origin"))
        let host = try serveFailure(["--allowed-host", " "])
        #expect(host.status != nil && host.status != 0)
        #expect(host.stderr.contains("--allowed-host"))
        let connections = try serveFailure(["--max-connections", "0"])
        #expect(connections.status != nil && connections.status != 0)
        #expect(connections.stderr.contains("--max-connections"))
    }
}
