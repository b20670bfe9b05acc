import Hummingbird
import Synchronization

/// Outermost middleware: turns any thrown error into the JSON envelope (the one place errors meet HTTP) and
/// counts every response by endpoint and status.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    /// Methods of every registered path, so a known path asked with another method gets 405, not 404.
    let routes: RouteMethods
    /// Adds CORS headers to every answer (errors included) for allowed origins.
    let browser: BrowserPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            var apiError = APIError(error)
            if case .routeNotFound = apiError {
                let allowed = routes.methods(for: request.uri.path)
                apiError = allowed.isEmpty ? .routeNotFound(request.uri.path) : .methodNotAllowed(allowed: allowed)
            }
            response = apiError.response
        }
        browser.decorate(&response, for: request)
        // Matched route templates only, so unknown paths cannot blow up the label set.
        metrics.record(endpoint: context.endpointPath ?? "other", status: Int(response.status.code))
        return response
    }
}

/// The registered methods per path, filled once the routes are added (the middleware that reads it is added first).
final class RouteMethods: Sendable {
    private let table = Mutex<[String: [String]]>([:])

    func record(_ routes: [(path: String, method: String)]) {
        table.withLock { table in
            for route in routes { table[route.path, default: []].append(route.method) }
        }
    }

    func methods(for path: String) -> [String] { table.withLock { $0[path] ?? [] }.sorted() }
}

/// Requires `Authorization: Bearer <key>` when keys are configured. `/health` stays open for probes (it then
/// shows the status only), `/metrics` when configured so, and CORS preflights (browsers send them without
/// credentials).
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: APIKeys
    let metricsRequireKey: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if keys.isEmpty || path == "/health" || request.method == .options || (path == "/metrics" && !metricsRequireKey) {
            return try await next(request, context)
        }
        guard request.headers[.authorization] != nil else {
            throw APIError.unauthorized("Missing API key: send 'Authorization: Bearer <key>'")
        }
        guard keys.authorizes(request) else { throw APIError.unauthorized("Invalid API key") }
        return try await next(request, context)
    }
}

/// The configured API keys, compared in constant time so response timing does not reveal a key's prefix.
struct APIKeys: Sendable {
    private let keys: [[UInt8]]

    init(_ keys: [String]) { self.keys = keys.map { Array($0.utf8) } }

    var isEmpty: Bool { keys.isEmpty }

    /// Whether `request` carries one of the keys (true when none are configured).
    func authorizes(_ request: Request) -> Bool {
        if keys.isEmpty { return true }
        guard let header = request.headers[.authorization] else { return false }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return false }
        let offered = Array(parts[1].trimmingCharacters(in: .whitespaces).utf8)
        // Every key is compared in full, whichever matches.
        var matched = false
        for key in keys where Self.equalInConstantTime(key, offered) { matched = true }
        return matched
    }

    /// Byte equality whose time depends only on the lengths, not on where the first difference is.
    static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = a.count ^ b.count
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= Int(x ^ y)
        }
        return difference == 0
    }
}
