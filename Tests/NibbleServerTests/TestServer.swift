import Foundation
import Logging
import NibbleEngine
import NibbleServer
import NibbleTestFakes

/// A running server on 127.0.0.1 with an ephemeral port, and the engine pieces tests inspect.
struct TestServer: Sendable {
    let port: Int
    let registry: ModelRegistry
    let scheduler: Scheduler
    let metrics: ServerMetrics
}

/// Starts the real HTTP server over fake models, runs `body`, then stops the server.
func withServer(models: [String: ScriptedModel], gated: FakeProvider? = nil,
                configure: (inout ServerConfiguration) -> Void = { _ in },
                _ body: (TestServer) async throws -> Void) async throws {
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.models = models.keys.sorted().map { ModelConfiguration(name: $0, path: URL(fileURLWithPath: "/fake/\($0)")) }
    configure(&configuration)
    let provider = gated ?? FakeProvider(models)
    let registry = ModelRegistry(specs: configuration.modelSpecs, provider: provider)
    try await withServer(configuration: configuration, registry: registry, waitForModels: gated == nil, body)
}

/// Starts the real HTTP server over a given registry.
func withServer(configuration: ServerConfiguration, registry: ModelRegistry, waitForModels: Bool = true,
                _ body: (TestServer) async throws -> Void) async throws {
    var configuration = configuration
    configuration.port = 0
    registry.startLoading()
    let scheduler = Scheduler(limits: configuration.limits)
    let metrics = ServerMetrics()
    var logger = Logger(label: "nibble.test")
    logger.logLevel = .warning
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = buildApplication(configuration: configuration, models: registry, scheduler: scheduler, metrics: metrics,
                               logger: logger, onServerRunning: { continuation.yield($0) })
    let task = Task { try await app.runService(gracefulShutdownSignals: []) }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw TestHTTPError("server did not start") }
    if waitForModels { await registry.waitUntilSettled() }
    do {
        try await body(TestServer(port: port, registry: registry, scheduler: scheduler, metrics: metrics))
    } catch {
        task.cancel()
        _ = await task.result
        throw error
    }
    task.cancel()
    _ = await task.result
}

/// Polls until `condition` holds or `seconds` pass.
func eventually(within seconds: Double = 2, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Joined `choices[0].text` (or `delta.content` for chat) of an OpenAI SSE body, checking the framing.
func openAIStreamText(_ response: HTTPTestResponse, chat: Bool = false) throws -> (text: String, finish: String?, usage: [String: Any]?) {
    let frames = response.sseData
    guard frames.last == "[DONE]" else { throw TestHTTPError("last frame is not [DONE]: \(frames.last ?? "none")") }
    var text = ""
    var finish: String?
    var usage: [String: Any]?
    for frame in frames.dropLast() {
        guard let object = try JSONSerialization.jsonObject(with: Data(frame.utf8)) as? [String: Any] else {
            throw TestHTTPError("frame is not JSON: \(frame)")
        }
        if let value = object["usage"] as? [String: Any] { usage = value }
        for choice in object["choices"] as? [[String: Any]] ?? [] {
            if chat {
                text += ((choice["delta"] as? [String: Any])?["content"] as? String) ?? ""
            } else {
                text += choice["text"] as? String ?? ""
            }
            if let reason = choice["finish_reason"] as? String { finish = reason }
        }
    }
    return (text, finish, usage)
}
