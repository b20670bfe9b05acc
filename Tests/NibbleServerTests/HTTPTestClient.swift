import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tiny blocking HTTP/1.1 client over a raw socket, so tests can read a stream piece by piece and hang up
/// mid-stream (which URL loading APIs do not expose portably). Blocking calls run on their own thread.
final class RawHTTPConnection: @unchecked Sendable {
    private var fd: Int32
    private var buffer = Data()

    init(port: Int) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw TestHTTPError("socket() failed") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw TestHTTPError("connect() to port \(port) failed")
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Closes the socket as a client process that exits does: the server sees only the end of the request stream.
    func closeSocket() {
        close(fd)
        fd = -1
    }

    func send(method: String, path: String, headers: [String: String] = [:], body: Data? = nil) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        var bytes = Data((head + "\r\n").utf8)
        if let body { bytes.append(body) }
        try send(raw: bytes)
    }

    /// Sends bytes as they are (a request head written by hand, a body in pieces).
    func send(raw bytes: Data) throws {
        try bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Glibc_send(fd, raw.baseAddress! + sent, raw.count - sent)
                guard n > 0 else { throw TestHTTPError("send() failed") }
                sent += n
            }
        }
    }

    /// Reads more bytes; false at end of stream.
    @discardableResult
    func readMore() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n < 0 { throw TestHTTPError("recv() failed or timed out (errno \(errno))") }
        if n == 0 { return false }
        buffer.append(contentsOf: chunk[..<n])
        return true
    }

    /// Forgets what was received so far (the next response starts afresh).
    func clear() { buffer.removeAll() }

    /// Everything received so far, as text.
    var received: String { String(decoding: buffer, as: UTF8.self) }

    /// Reads until the received bytes contain `marker`.
    func read(until marker: String) throws -> String {
        while !String(decoding: buffer, as: UTF8.self).contains(marker) {
            guard try readMore() else { throw TestHTTPError("connection closed before '\(marker)'") }
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Reads one response framed by `Content-Length` (the connection may stay open) and removes it from the buffer.
    func readLengthDelimitedResponse() throws -> HTTPTestResponse {
        let separator = Data("\r\n\r\n".utf8)
        while buffer.range(of: separator) == nil {
            guard try readMore() else { throw TestHTTPError("connection closed inside a response head") }
        }
        let headEnd = buffer.range(of: separator)!.upperBound
        let head = try HTTPTestResponse(raw: Data(buffer[..<headEnd]))
        guard let length = head.headers["content-length"].flatMap(Int.init) else { throw TestHTTPError("no Content-Length") }
        while buffer.count - (headEnd - buffer.startIndex) < length {
            guard try readMore() else { throw TestHTTPError("connection closed inside a response body") }
        }
        let end = headEnd + length
        let response = try HTTPTestResponse(raw: Data(buffer[..<end]))
        buffer = Data(buffer[end...])
        return response
    }

    /// Reads to the end and parses the response.
    func readResponse() throws -> HTTPTestResponse {
        while try readMore() {}
        return try HTTPTestResponse(raw: buffer)
    }

    func hangUp() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Half-closes: the server sees the end of the request stream, and the answer can still be read.
    func closeWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// How long a read waits before it fails.
    func setReceiveTimeout(seconds: Double) {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: .init((seconds - seconds.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Waits up to `seconds` for the server to close the connection: true if it did (end of stream or reset),
    /// false if the connection was still open when the time ran out. Bytes received meanwhile are kept.
    func waitForClose(seconds: Double) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { return false }
            let ready = poll(&poller, 1, Int32((deadline - now) / 1_000_000) + 1)
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 16_384)
            let n = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return true }
            if n > 0 { buffer.append(contentsOf: chunk[..<n]) }
        }
    }
}

private func Glibc_send(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.send(fd, pointer, count, Int32(MSG_NOSIGNAL))
    #else
    return Darwin.send(fd, pointer, count, 0)
    #endif
}

struct TestHTTPError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A parsed response; chunked bodies are de-chunked.
struct HTTPTestResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data

    init(raw: Data) throws {
        var raw = raw
        // Interim responses (1xx) come before the final one and are skipped, as HTTP/1.1 clients do.
        while raw.starts(with: Data("HTTP/1.1 1".utf8)), let end = raw.range(of: Data("\r\n\r\n".utf8)) {
            raw = Data(raw[end.upperBound...])
        }
        guard let split = raw.range(of: Data("\r\n\r\n".utf8)) else { throw TestHTTPError("no header terminator") }
        let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw TestHTTPError("bad status line \(head[0])") }
        self.status = status
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        self.headers = headers
        var rest = Data(raw[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var body = Data()
            while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
                let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else { break }
                if size == 0 { break }
                let start = lineEnd.upperBound
                body.append(rest[start..<start + size])
                rest = Data(rest[(start + size + 2)...])
            }
            self.body = body
        } else {
            self.body = rest
        }
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw TestHTTPError("body is not a JSON object: \(text)")
        }
        return object
    }

    /// The `data:` payloads of an SSE body, in order.
    var sseData: [String] {
        text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { frame in
            frame.hasPrefix("data: ") ? String(frame.dropFirst(6)) : "<not a data frame: \(frame)>"
        }
    }
}

/// Runs blocking work on a fresh thread so the cooperative pool (which serves the server too) stays free.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.start()
    }
}

/// One request, whole response.
func http(_ port: Int, _ method: String, _ path: String, json: Any? = nil, raw: String? = nil, bytes: Data? = nil,
          headers: [String: String] = [:]) async throws -> HTTPTestResponse {
    let body: Data? = try bytes ?? raw.map { Data($0.utf8) } ?? json.map { try JSONSerialization.data(withJSONObject: $0) }
    nonisolated(unsafe) let sendable = body
    return try await onThread {
        let connection = try RawHTTPConnection(port: port)
        try connection.send(method: method, path: path, headers: headers, body: sendable)
        return try connection.readResponse()
    }
}
