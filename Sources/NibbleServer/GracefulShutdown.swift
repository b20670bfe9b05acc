import Dispatch
import Foundation
import Logging
import NibbleEngine
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the server until SIGTERM or SIGINT, then stops in bounded time.
///
/// On the first signal the listener closes and the engine takes no new work; running and queued generations
/// get up to `timeout` to finish. Whatever is still running then is ended: every stream gets a final chunk
/// (and `[DONE]` on the OpenAI routes), every non-streamed request a 503. A second signal exits at once.
public enum GracefulShutdown {
    /// Time the server gets after the generations were ended to write their last bytes and close.
    static let drainTime: Duration = .seconds(5)

    /// - Parameters:
    ///   - service: the HTTP application.
    ///   - watch: runs beside the server; an error it throws stops the server and is rethrown (a return is ignored).
    public static func run(_ service: some Service, scheduler: Scheduler, timeout: Duration, logger: Logger,
                           watch: (@Sendable () async throws -> Void)? = nil) async throws {
        let group = ServiceGroup(services: [service], logger: logger)
        let signals = listen(to: [SIGTERM, SIGINT])
        try await withThrowingTaskGroup(of: Ending.self) { tasks in
            tasks.addTask {
                try await group.run()
                return .server
            }
            tasks.addTask {
                var iterator = signals.makeAsyncIterator()
                guard let signal = await iterator.next() else { return .shutdownDone }
                logger.notice("shutting down", metadata: [
                    "signal": "\(signal == SIGTERM ? "SIGTERM" : "SIGINT")", "timeout_seconds": "\(timeout.components.seconds)"])
                scheduler.stopAccepting()
                await group.triggerGracefulShutdown()
                if await scheduler.waitUntilIdle(timeout: timeout) {
                    logger.info("every generation finished")
                } else {
                    let running = scheduler.stats.active + scheduler.stats.queued
                    logger.warning("shutdown timeout reached; ending generations", metadata: ["generations": "\(running)"])
                    scheduler.terminateAll()
                }
                // The server returns once its connections have written their last response; this bounds it.
                try? await Task.sleep(for: drainTime)
                return .shutdownDone
            }
            if let watch {
                tasks.addTask {
                    try await watch()
                    return .watchDone
                }
            }
            while let ending = try await tasks.next() {
                if ending == .watchDone { continue }
                tasks.cancelAll()
                return
            }
        }
    }

    private enum Ending: Sendable { case server, shutdownDone, watchDone }

    /// Delivers the first of `signals` as an event; the second one received ends the process at once.
    private static func listen(to signals: [Int32]) -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let received = Mutex(0)
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)  // the dispatch source sees it instead of the default action
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let count = received.withLock { count in
                    count += 1
                    return count
                }
                if count > 1 {
                    FileHandle.standardError.write(Data("second signal: exiting now\n".utf8))
                    _exit(128 + number)
                }
                continuation.yield(number)
            }
            source.resume()
            sources.append(source)
        }
        nonisolated(unsafe) let kept = sources
        continuation.onTermination = { _ in _ = kept }  // the sources live as long as the stream
        return stream
    }
}
