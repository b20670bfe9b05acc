import Dispatch

/// Where prompts are rendered and tokenized: threads of their own, not the event loops and not Swift's cooperative
/// pool, which has one thread per core and also runs every other handler. A megabyte of prompt takes a second to
/// tokenize; meanwhile `/health`, streams and other requests keep being served.
enum PromptWork {
    private static let queue = DispatchQueue(label: "nibble.prompt-work", qos: .userInitiated, attributes: .concurrent)

    /// Runs `work` (validation: template rendering, tokenization, parameter checks) off the async executors.
    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
