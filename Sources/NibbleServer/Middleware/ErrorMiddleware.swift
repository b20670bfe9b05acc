import Hummingbird
import Synchronization

/// Outermost middleware: turns any thrown error into the JSON envelope (the one place errors meet HTTP) and
/// counts every response by endpoint and status.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    /// Methods of every registered path, so a known path asked with another method gets 405, not 404.
    let routes: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response: Response
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

/// Requires `Authorization: Bearer <key>` when keys are configured; `/health` stays open for probes.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if keys.isEmpty || request.uri.path == "/health" { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("Missing API key: send 'Authorization: Bearer <key>'")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", keys.contains(String(parts[1]).trimmingCharacters(in: .whitespaces)) else {
            throw APIError.unauthorized("Invalid API key")
        }
        return try await next(request, context)
    }
}

import Foundation
