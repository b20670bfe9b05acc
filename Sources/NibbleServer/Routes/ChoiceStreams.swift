import NibbleEngine
import NibbleGeneration

/// An event of one choice of a request, tagged with the choice's `index`.
struct ChoiceEvent: Sendable {
    var index: Int
    var event: GenerationEvent
}

/// The choices of one request (several prompts, `n` each) run as separate generations; their events are merged
/// into one stream, each tagged with its choice's index (prompt-major: choice `i` is prompt `i / n`).
enum ChoiceStreams {
    /// Submits every request, in order; when one cannot be queued, those already submitted are cancelled (their
    /// streams are dropped) and the error is the request's.
    static func submit(_ requests: [GenerationRequest],
                       to scheduler: Scheduler) throws(APIError) -> AsyncThrowingStream<ChoiceEvent, any Error> {
        var streams: [AsyncThrowingStream<GenerationEvent, any Error>] = []
        for request in requests {
            do { streams.append(try scheduler.submit(request)) } catch { throw APIError(error) }
        }
        return merge(streams)
    }

    /// Every stream's events as they come; the merged stream ends when all have ended and throws the first
    /// error. Dropping it cancels every generation.
    static func merge(_ streams: [AsyncThrowingStream<GenerationEvent, any Error>]) -> AsyncThrowingStream<ChoiceEvent, any Error> {
        let (merged, continuation) = AsyncThrowingStream.makeStream(of: ChoiceEvent.self, throwing: (any Error).self)
        let task = Task {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, stream) in streams.enumerated() {
                        group.addTask {
                            for try await event in stream { continuation.yield(ChoiceEvent(index: index, event: event)) }
                        }
                    }
                    try await group.waitForAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return merged
    }

    /// Folds every choice into its result; a generation the server ended while shutting down is a 503.
    static func whole(_ events: AsyncThrowingStream<ChoiceEvent, any Error>, count: Int) async throws -> [GenerationResult] {
        var results = Array(repeating: GenerationResult(), count: count)
        for try await choice in events { results[choice.index].fold(choice.event) }
        if results.contains(where: { $0.finishReason == .shutdown }) {
            throw APIError.unavailable("The server is shutting down; the generation was ended")
        }
        return results
    }

    /// The request's usage: each prompt counted once (with the most any of its choices reused from the prefix
    /// cache), completion tokens summed over every choice.
    static func usage(_ usages: [Usage], n: Int) -> Usage {
        var total = Usage(promptTokens: 0, completionTokens: 0)
        for start in stride(from: 0, to: usages.count, by: max(1, n)) {
            let choices = usages[start..<min(start + max(1, n), usages.count)]
            total.promptTokens += choices.first?.promptTokens ?? 0
            total.cachedTokens += choices.map(\.cachedTokens).max() ?? 0
            total.completionTokens += choices.reduce(0) { $0 + $1.completionTokens }
        }
        return total
    }
}
