import Hummingbird
import NIOCore

/// The request context of Nibble's routes: Hummingbird's core storage plus the connection the request came on,
/// so a handler can stop working for a client that has gone.
public struct NibbleRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's connection.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Runs `work` and cancels it when the client's connection closes before it ends: a non-streamed generation
    /// then stops (its event stream is cancelled, which cancels the job whether queued or running) instead of
    /// computing an answer nobody will read.
    func cancellingOnHangup<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await work() }
        channel.closeFuture.whenComplete { _ in task.cancel() }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}
