import HTTPTypes
import Hummingbird

/// What a web page may do with the server: which `Host` names it answers (DNS-rebinding protection) and which
/// origins may call it from a browser (CORS). With the defaults no foreign page can use the API.
struct BrowserPolicy: Sendable {
    /// Host names besides loopback names and IP literals; `*` allows any.
    let allowedHosts: Set<String>
    /// Origins allowed to call from a browser (`scheme://host[:port]`); `*` allows any.
    let allowedOrigins: Set<String>

    init(allowedHosts: [String], allowedOrigins: [String], boundHost: String) {
        var hosts = Set(allowedHosts.map { $0.lowercased() })
        hosts.formUnion(["localhost", Self.hostName(boundHost)])
        self.allowedHosts = hosts
        self.allowedOrigins = Set(allowedOrigins.map { $0.lowercased() })
    }

    /// Whether a `Host` header (with or without port) names this server.
    ///
    /// IP literals always pass: a DNS-rebinding page reaches the server under its own host name, never an
    /// address, so only names need to be listed.
    func allows(host header: String?) -> Bool {
        guard let header else { return true }  // HTTP/1.0 clients may send none; browsers always do
        if allowedHosts.contains("*") { return true }
        let name = Self.hostName(header)
        if name.isEmpty { return false }
        if Self.isIPLiteral(name) || allowedHosts.contains(name) { return true }
        return name.hasSuffix(".localhost")  // resolves to loopback by definition (RFC 6761)
    }

    func allows(origin: String) -> Bool {
        allowedOrigins.contains("*") || allowedOrigins.contains(origin.lowercased())
    }

    /// Methods and headers a preflight grants.
    static let allowMethods = "GET, POST, OPTIONS"
    static let allowHeaders = "Authorization, Content-Type"

    /// `Host` value without its port and brackets, lowercased: `[::1]:8080` → `::1`, `Example.com:80` → `example.com`.
    static func hostName(_ header: String) -> String {
        let text = header.trimmingCharacters(in: .whitespaces).lowercased()
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return "" }
            return String(text[text.index(after: text.startIndex)..<close])
        }
        if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon,
           text[text.index(after: colon)...].allSatisfy(isDigit) {
            return String(text[..<colon])
        }
        return text
    }

    private static func isDigit(_ character: Character) -> Bool { ("0"..."9").contains(character) }

    static func isIPLiteral(_ name: String) -> Bool {
        if name.contains(":") { return name.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(isDigit) && (Int(part) ?? 256) <= 255
        }
    }

    /// Adds `Access-Control-Allow-Origin` when `request` comes from an allowed origin.
    func decorate(_ response: inout Response, for request: Request) {
        guard let origin = request.headers[.origin], allows(origin: origin) else { return }
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
    }
}

/// Refuses requests whose `Host` does not name this server (403) or that come from a page of a foreign origin
/// (403), and answers CORS preflights for allowed origins (204). Runs inside `ErrorMiddleware`, so refusals
/// carry the error envelope and are counted.
struct BrowserSafetyMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: BrowserPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard policy.allows(host: request.head.authority) else {
            throw APIError.forbidden("Host '\(request.head.authority ?? "")' is not a name of this server (configure allowed_hosts)")
        }
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        guard policy.allows(origin: origin) else {
            throw APIError.forbidden("Origin '\(origin)' is not allowed (configure cors_allowed_origins)")
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = HTTPFields()
            headers[.accessControlAllowMethods] = BrowserPolicy.allowMethods
            headers[.accessControlAllowHeaders] = BrowserPolicy.allowHeaders
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
        return try await next(request, context)
    }
}
