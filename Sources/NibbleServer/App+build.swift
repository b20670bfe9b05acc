import Foundation
import Hummingbird
import Logging
import NIOCore
import NibbleEngine

/// Builds the HTTP application over a model registry.
///
/// The registry is only read here; the caller decides when it loads (`models.startLoading()`), so the server
/// can answer `/health` with progress while weights are still being read.
/// - Parameters:
///   - scheduler: the engine; by default one sized by `configuration.limits`.
///   - onServerRunning: called with the bound port once listening (port 0 in the configuration picks one).
public func buildApplication(
    configuration: ServerConfiguration,
    models: ModelRegistry,
    scheduler: Scheduler? = nil,
    metrics: ServerMetrics = ServerMetrics(),
    logger: Logger = Logger(label: "nibble.server"),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let scheduler = scheduler ?? Scheduler(limits: configuration.limits)
    let router = buildRouter(configuration: configuration, models: models, scheduler: scheduler, metrics: metrics)
    let limiter = ConnectionLimiter(limit: configuration.maxConnections)
    metrics.connections = limiter
    return Application(
        router: router,
        server: .nibbleHTTP1(limiter: limiter, idleTimeout: .nanoseconds(Int64(configuration.idleTimeoutSeconds * 1e9)),
                             maxBodyBytes: configuration.maxBodyBytes),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "nibble"),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
            await onServerRunning(port)
        },
        logger: logger)
}

/// The routes and middleware, without a listening socket.
public func buildRouter(configuration: ServerConfiguration, models: ModelRegistry, scheduler: Scheduler,
                        metrics: ServerMetrics) -> Router<NibbleRequestContext> {
    let router = Router(context: NibbleRequestContext.self)
    let routes = RouteMethods()
    let browser = BrowserPolicy(allowedHosts: configuration.allowedHosts, allowedOrigins: configuration.corsAllowedOrigins,
                                boundHost: configuration.host)
    router.add(middleware: ErrorMiddleware(metrics: metrics, routes: routes, browser: browser))
    router.add(middleware: BrowserSafetyMiddleware(policy: browser))
    let keys = APIKeys(configuration.apiKeys)
    router.add(middleware: APIKeyMiddleware(keys: keys, metricsRequireKey: configuration.metricsRequireKey))
    let validator = GenerationValidator(
        registry: models,
        defaults: Dictionary(configuration.models.map { ($0.name, $0.defaults) }, uniquingKeysWith: { first, _ in first }))
    let body = BodyLimits(maxBytes: configuration.maxBodyBytes, timeout: .seconds(configuration.requestTimeoutSeconds))
    GenerationController(validator: validator, scheduler: scheduler, body: body).register(on: router)
    TokenizeController(validator: validator, body: body).register(on: router)
    OpsController(registry: models, scheduler: scheduler, metrics: metrics, keys: keys).register(on: router)
    ModelInfoController(registry: models, validator: validator, slots: configuration.limits.maxConcurrent).register(on: router)
    routes.record(router.routes.map { (path: "/" + $0.path.description.trimmingCharacters(in: CharacterSet(charactersIn: "/")),
                                       method: $0.method.rawValue) })
    return router
}
