import Foundation
import Logging
import NibbleGeneration
import NibbleModels
import Synchronization

/// The one owner of running generations: a fair FIFO queue in front of a fixed number of sequence slots, and one
/// engine loop per model that runs every admitted sequence of that model in shared batched steps.
///
/// HTTP handlers only `submit` and consume the returned stream. Matrix work runs on the engines' threads, never
/// on Swift's cooperative pool. Dropping the stream (a client going away) cancels the generation at its next
/// step, or removes it from the queue if it has not started.
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

    deinit {
        for engine in engines.withLock({ Array($0.values) }) { engine.stop() }
    }

    /// Counters and running requests right now.
    public var stats: EngineStats { state.withLock { $0.stats } }

    /// Queues a generation and returns its events; the stream ends after `.done`, or throws a model error.
    ///
    /// - Throws: `.queueFull` when every slot is busy and `limits.maxQueued` requests already wait;
    ///   `.exceedsKVCache` when the sequence could never fit in the model's KV pool.
    public func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<GenerationEvent, any Error> {
        let engine = self.engine(for: request)
        let needed = request.cacheCapacity
        guard needed <= engine.poolPositions else {
            throw .exceedsKVCache(tokens: needed, poolTokens: engine.poolPositions, poolBytes: engine.pool.totalBytes)
        }
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
            if startNow { engine.enqueue(job) }
        }
        return stream
    }

    /// Stops accepting work; queued requests end as cancelled, running ones at their next step.
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

    /// Jobs handed to an engine, by id, so cancellation can reach them.
    private let runningJobs = Mutex<[Int: Job]>([:])

    /// One engine per model instance.
    private let engines = Mutex<[ObjectIdentifier: ModelEngine]>([:])

    /// The engine of the request's model, started on first use (its KV pool is sized then).
    private func engine(for request: GenerationRequest) -> ModelEngine {
        let key = ObjectIdentifier(request.model.model)
        return engines.withLock { engines in
            if let engine = engines[key] { return engine }
            let engine = ModelEngine(
                name: request.modelName, loaded: request.model, settings: limits.kvCache,
                maxConcurrent: limits.maxConcurrent, maxBatchTokens: limits.maxBatchTokens, logger: logger,
                onFinish: { [weak self] job, outcome, timings in self?.finish(job, outcome: outcome, timings: timings) },
                onStep: { [weak self] progress, pool in self?.record(progress, pool: pool) })
            engines[key] = engine
            engine.start()
            return engine
        }
    }

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

    /// Per-step progress of running sequences and the pool's state, from an engine.
    private func record(_ progress: [Int: (generated: Int, kvBytes: Int)], pool: KVPoolStats) {
        state.withLock { state in
            for index in state.stats.activeRequests.indices {
                if let entry = progress[state.stats.activeRequests[index].id] {
                    state.stats.activeRequests[index].generatedTokens = entry.generated
                    state.stats.activeRequests[index].kvCacheBytes = entry.kvBytes
                }
            }
            if let index = state.stats.kvPools.firstIndex(where: { $0.model == pool.model }) {
                state.stats.kvPools[index] = pool
            } else {
                state.stats.kvPools.append(pool)
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
        if let next { engine(for: next.request).enqueue(next) }
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
    /// Engines drop the sequences at their next step; their later events go to finished streams.
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
