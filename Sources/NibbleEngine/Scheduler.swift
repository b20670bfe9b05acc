import Foundation
import Logging
import NibbleGeneration
import NibbleModels
import Synchronization

/// The one owner of running generations: a fair FIFO queue in front of a fixed number of slots.
///
/// HTTP handlers only `submit` and consume the returned stream. Each admitted generation runs on a thread
/// of its own, so matrix work never occupies Swift's cooperative pool; its KV cache lives and dies with that
/// thread. Dropping the stream (a client going away) cancels the generation at its next token, or removes
/// it from the queue if it has not started.
public final class Scheduler: Sendable {
    public let limits: SchedulerLimits
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var queue: [Job] = []
        var stats = EngineStats()
        var shuttingDown = false
        /// False after `stopAccepting()`: new work is refused while queued and running work goes on.
        var accepting = true
    }

    public init(limits: SchedulerLimits = SchedulerLimits(), logger: Logger = Logger(label: "nibble.engine")) {
        self.limits = limits
        self.logger = logger
        var initial = State()
        initial.stats.maxConcurrent = limits.maxConcurrent
        initial.stats.maxQueued = limits.maxQueued
        state = Mutex(initial)
    }

    /// Counters and running requests right now.
    public var stats: EngineStats { state.withLock { $0.stats } }

    /// Queues a generation and returns its events; the stream ends after `.done`, or throws a model error.
    ///
    /// - Throws: `.queueFull` when every slot is busy and `limits.maxQueued` requests already wait.
    public func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: GenerationEvent.self, throwing: (any Error).self)
        let job = Job(id: jobIds.add(1, ordering: .relaxed).newValue, request: request, continuation: continuation)
        continuation.onTermination = { [weak self] termination in
            guard case .cancelled = termination else { return }
            self?.cancel(id: job.id)
        }
        let decision: Result<Bool, EngineError> = state.withLock { state in
            if state.shuttingDown || !state.accepting { return .failure(.shuttingDown) }
            if state.stats.active < limits.maxConcurrent {
                state.stats.accepted += 1
                admit(job, into: &state)
                return .success(true)
            }
            guard state.queue.count < limits.maxQueued else {
                state.stats.rejected += 1
                return .failure(.queueFull(retryAfterSeconds: limits.retryAfterSeconds))
            }
            state.stats.accepted += 1
            state.queue.append(job)
            state.stats.queued = state.queue.count
            return .success(false)
        }
        switch decision {
        case .failure(let error):
            continuation.finish()
            throw error
        case .success(let startNow):
            if startNow { start(job) }
        }
        return stream
    }

    /// Stops accepting work; queued requests end as cancelled, running ones at their next token.
    public func shutdown() {
        let dropped: [Job] = state.withLock { state in
            state.shuttingDown = true
            let queued = state.queue
            state.queue.removeAll()
            state.stats.queued = 0
            state.stats.cancelled += queued.count
            return queued
        }
        for job in dropped { job.continuation.finish() }
        runningJobs.withLock { jobs in for job in jobs.values { job.cancel() } }
    }

    // MARK: - Internals

    private let jobIds = Atomic<Int>(0)

    /// Jobs on a thread now, by id, so cancellation can reach them.
    private let runningJobs = Mutex<[Int: Job]>([:])

    private func admit(_ job: Job, into state: inout State) {
        state.stats.active += 1
        state.stats.activeRequests.append(ActiveRequest(
            id: job.id, model: job.request.modelName, label: job.request.label,
            promptTokens: job.request.promptTokens.count, generatedTokens: 0,
            kvCacheBytes: 0, startedAt: Date().timeIntervalSince1970))
        runningJobs.withLock { $0[job.id] = job }
    }

    private func cancel(id: Int) {
        let queued: Job? = state.withLock { state in
            guard let index = state.queue.firstIndex(where: { $0.id == id }) else { return nil }
            let job = state.queue.remove(at: index)
            state.stats.queued = state.queue.count
            state.stats.cancelled += 1
            return job
        }
        if let queued {
            queued.continuation.finish()
            return
        }
        runningJobs.withLock { $0[id]?.cancel() }
    }

    private func start(_ job: Job) {
        let thread = Thread { [self] in run(job) }
        thread.name = "nibble-generation-\(job.id)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Body of a generation thread.
    private func run(_ job: Job) {
        let request = job.request
        var outcome: Outcome = .failed
        var timings: Timings?
        do {
            let cache = request.model.model.makeCache(capacity: request.cacheCapacity)
            update(job.id) { $0.kvCacheBytes = cache.allocatedBytes }
            let generator = try TokenGenerator(
                model: request.model.model, cache: cache, tokenizer: request.model.tokenizer,
                promptTokens: request.promptTokens, parameters: request.parameters,
                eosTokenIds: request.model.eosTokenIds)
            if job.isCancelled {
                outcome = .cancelled
            } else {
                let result = try generator.run { [self] event in
                    job.continuation.yield(event)
                    if case .token = event { update(job.id) { $0.generatedTokens += 1 } }
                    return job.isCancelled ? .cancel : .proceed
                }
                timings = result.timings
                outcome = result.finishReason == .cancelled ? .cancelled : .completed
            }
            job.continuation.finish()
        } catch {
            logger.error("generation failed", metadata: ["request": "\(job.id)", "error": "\(error)"])
            job.continuation.finish(throwing: error)
        }
        finish(job, outcome: outcome, timings: timings)
    }

    private enum Outcome { case completed, cancelled, failed }

    private func update(_ id: Int, _ change: (inout ActiveRequest) -> Void) {
        state.withLock { state in
            if let index = state.stats.activeRequests.firstIndex(where: { $0.id == id }) {
                change(&state.stats.activeRequests[index])
            }
        }
    }

    /// Records the outcome, frees the slot and starts the oldest waiting request.
    private func finish(_ job: Job, outcome: Outcome, timings: Timings?) {
        runningJobs.withLock { _ = $0.removeValue(forKey: job.id) }
        let next: Job? = state.withLock { state in
            state.stats.active -= 1
            state.stats.activeRequests.removeAll { $0.id == job.id }
            switch outcome {
            case .completed: state.stats.completed += 1
            case .cancelled: state.stats.cancelled += 1
            case .failed: state.stats.failed += 1
            }
            if let timings {
                state.stats.promptTokens += timings.promptTokens
                state.stats.generatedTokens += timings.predictedTokens
                state.stats.promptSeconds += timings.promptMilliseconds / 1000
                state.stats.decodeSeconds += timings.predictedMilliseconds / 1000
            }
            guard !state.queue.isEmpty, !state.shuttingDown else { return nil }
            let next = state.queue.removeFirst()
            state.stats.queued = state.queue.count
            admit(next, into: &state)
            return next
        }
        if let next { start(next) }
    }
}

// MARK: - Graceful shutdown

extension Scheduler {
    /// Refuses new submissions (`submit` throws `.shuttingDown`); queued and running generations go on.
    public func stopAccepting() {
        state.withLock { $0.accepting = false }
    }

    /// Waits until nothing runs or waits, or `timeout` passes; true when idle.
    public func waitUntilIdle(timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            let idle = state.withLock { $0.stats.active == 0 && $0.queue.isEmpty }
            if idle { return true }
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Ends every queued and running generation now: each stream gets a final `.done(.shutdown, …)` and ends.
    /// Generation threads stop at their next token; their later events are dropped by the finished streams.
    public func terminateAll() {
        let (queued, generated): ([Job], [Int: Int]) = state.withLock { state in
            state.accepting = false
            let queued = state.queue
            state.queue.removeAll()
            state.stats.queued = 0
            state.stats.cancelled += queued.count
            return (queued, Dictionary(state.stats.activeRequests.map { ($0.id, $0.generatedTokens) },
                                       uniquingKeysWith: { first, _ in first }))
        }
        let running = runningJobs.withLock { Array($0.values) }
        for job in queued { job.endForShutdown(generatedTokens: 0) }
        for job in running {
            job.cancel()
            job.endForShutdown(generatedTokens: generated[job.id] ?? 0)
        }
    }
}

/// A queued or running generation.
private final class Job: Sendable {
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

    /// The final event of a generation the server ended, then the end of the stream.
    func endForShutdown(generatedTokens: Int) {
        let usage = Usage(promptTokens: request.promptTokens.count, completionTokens: generatedTokens)
        let timings = Timings(promptTokens: request.promptTokens.count, promptMilliseconds: 0,
                              predictedTokens: generatedTokens, predictedMilliseconds: 0)
        continuation.yield(.done(.shutdown, usage, timings))
        continuation.finish()
    }
    func cancel() { cancelled.store(true, ordering: .relaxed) }
}
