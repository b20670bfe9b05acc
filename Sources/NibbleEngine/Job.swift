import NibbleGeneration
import Synchronization

/// A queued or running generation: the request, the stream its events go to, and a cancellation flag any thread
/// may set (the engine loop reads it every step).
final class Job: Sendable {
    let id: Int
    let request: GenerationRequest
    let continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation
    private let cancelled = Atomic<Bool>(false)

    init(id: Int, request: GenerationRequest, continuation: AsyncThrowingStream<GenerationEvent, any Error>.Continuation) {
        self.id = id
        self.request = request
        self.continuation = continuation
    }

    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// The final event of a generation the server ended, then the end of the stream.
    func endForShutdown(generatedTokens: Int) {
        let usage = Usage(promptTokens: request.promptTokens.count, completionTokens: generatedTokens)
        let timings = Timings(promptTokens: request.promptTokens.count, promptMilliseconds: 0,
                              predictedTokens: generatedTokens, predictedMilliseconds: 0)
        continuation.yield(.done(.shutdown, usage, timings))
        continuation.finish()
    }
}
