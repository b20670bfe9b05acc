import Dispatch
import Foundation
import Logging
import NibbleGeneration
import NibbleGrammar
import NibbleKernels
import NibbleModels

/// How a generation ended, for the scheduler's counters.
enum Outcome { case completed, cancelled, failed }

/// The one loop that runs every sequence of one model, on a thread of its own.
///
/// Each step builds one batch — the next token of every decoding sequence, then chunks of prompts being
/// prefilled, within `maxBatchTokens` — runs one `forward(batch:)`, and hands each sequence its row of logits.
/// Sequences take KV blocks from the model's pool as they grow; when the pool runs dry the newest sequence is
/// preempted (its blocks freed, its tokens recomputed when it is admitted again), so the pool's budget is never
/// exceeded and outputs do not change. Every mutable field below `pool` belongs to the loop's thread.
final class ModelEngine: @unchecked Sendable {
    let name: String
    let loaded: LoadedModel
    let pool: KVBlockPool
    let maxBatchTokens: Int
    let prefixCaching: Bool
    /// The budget the pool was sized from.
    let budgetBytes: Int

    private let logger: Logger
    private let onFinish: @Sendable (Job, Outcome, Timings?) -> Void
    private let onStep: @Sendable ([Int: (generated: Int, kvBytes: Int)], KVPoolStats) -> Void

    /// Guards `inbox` and `stopped`; the loop sleeps on it when it has nothing to run.
    private let condition = NSCondition()
    private var inbox: [Job] = []
    private var stopped = false

    private var waiting: [EngineSequence] = []  // oldest first
    private var running: [EngineSequence] = []  // oldest first
    private var arrivals = 0
    private var preemptions = 0
    private var cachedPromptTokens = 0
    /// `(vocab)`: the row a sequence samples from, its processors rewriting it; one buffer for every step.
    private var processedRow: [Float] = []
    /// The tokenizer's vocabulary as a byte trie, built on the first constrained request and shared by all.
    private lazy var vocabulary = TokenVocabulary(tokenizer: loaded.tokenizer, endTokenIds: loaded.eosTokenIds)

    init(name: String, loaded: LoadedModel, settings: KVCacheSettings, maxConcurrent: Int, maxBatchTokens: Int,
         logger: Logger, onFinish: @escaping @Sendable (Job, Outcome, Timings?) -> Void,
         onStep: @escaping @Sendable ([Int: (generated: Int, kvBytes: Int)], KVPoolStats) -> Void) {
        self.name = name
        self.loaded = loaded
        self.maxBatchTokens = max(1, maxBatchTokens)
        prefixCaching = settings.prefixCaching
        self.logger = logger
        self.onFinish = onFinish
        self.onStep = onStep
        // The model's own cache tells the shape (layers, key/value width) without knowing its architecture.
        let probe = loaded.model.makeCache(capacity: 1)
        let blockBytes = KVBlockPool.bytesPerBlock(layerCount: probe.layerCount, kvDim: probe.kvDim, dtype: settings.dtype)
        let contextBlocks = Double((loaded.model.maxContextLength + KVBlockPool.blockSize - 1) / KVBlockPool.blockSize)
        let fullContexts = Int(min(Double(Int.max / 2), Double(max(1, maxConcurrent)) * contextBlocks * Double(blockBytes)))
        budgetBytes = settings.memory.resolve(fullContextsBytes: fullContexts)
        pool = KVBlockPool(layerCount: probe.layerCount, kvDim: probe.kvDim, dtype: settings.dtype, budgetBytes: budgetBytes)
        logger.info("kv cache", metadata: [
            "model": "\(name)", "kv_cache_memory": "\(settings.memory)", "bytes": "\(pool.totalBytes)",
            "blocks": "\(pool.blockCount)", "positions": "\(pool.blockCount * KVBlockPool.blockSize)",
            "block_bytes": "\(pool.blockBytes)", "dtype": "\(settings.dtype)",
        ])
    }

    /// Starts the loop's thread.
    func start() {
        let thread = Thread { [self] in runLoop() }
        thread.name = "nibble-engine-\(name)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Hands a job to the loop.
    func enqueue(_ job: Job) {
        condition.lock()
        inbox.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Ends the loop; sequences still there end as cancelled.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Positions the pool holds in all.
    var poolPositions: Int { pool.blockCount * KVBlockPool.blockSize }

    /// The pool's state now; only the loop's thread may call it.
    private var poolStats: KVPoolStats {
        KVPoolStats(model: name, dtype: pool.dtype.rawValue, budgetBytes: budgetBytes, blockBytes: pool.blockBytes,
                    blocksTotal: pool.blockCount, blocksInUse: pool.blocksInUse,
                    blocksFree: pool.blockCount - pool.blocksInUse - pool.cachedBlocks, blocksCached: pool.cachedBlocks,
                    preemptions: preemptions, cachedPromptTokens: cachedPromptTokens)
    }

    // MARK: - The loop

    private func runLoop() {
        onStep([:], poolStats)
        while true {
            condition.lock()
            while inbox.isEmpty && running.isEmpty && waiting.isEmpty && !stopped { condition.wait() }
            let arrived = inbox
            inbox.removeAll()
            let stop = stopped
            condition.unlock()
            if stop {
                for job in arrived { job.continuation.finish() }
                for sequence in running + waiting { end(sequence, outcome: .cancelled) }
                return
            }
            for job in arrived { accept(job) }
            for sequence in running + waiting where sequence.job.isCancelled {
                sequence.state.cancel()
                end(sequence, outcome: .cancelled)
            }
            let plan = schedule()
            if plan.isEmpty {
                // Nothing fits this step (only possible while blocks are being given back): wait a little.
                condition.lock()
                if inbox.isEmpty && !stopped { _ = condition.wait(until: Date().addingTimeInterval(0.005)) }
                condition.unlock()
                continue
            }
            execute(plan)
            var progress: [Int: (generated: Int, kvBytes: Int)] = [:]
            // Waiting sequences too: one preempted since the last report holds no blocks any more.
            for sequence in running + waiting {
                progress[sequence.job.id] = (generated: sequence.state.generated.count, kvBytes: sequence.cache.allocatedBytes)
            }
            onStep(progress, poolStats)
        }
    }

    /// A sequence's output constraint; a lazy one sees special tokens as their text (markers often are).
    private func constraint(for grammar: Grammar, trigger: String?) -> OutputConstraint {
        guard let trigger else { return OutputConstraint(grammar: grammar, vocabulary: vocabulary) }
        let vocabulary = vocabulary, tokenizer = loaded.tokenizer
        return OutputConstraint(grammar: grammar, vocabulary: vocabulary, trigger: trigger) { id in
            if id >= 0, id < vocabulary.size, let bytes = vocabulary.tokenBytes[id] { return bytes }
            return Array((tokenizer.tokenString(for: id) ?? "").utf8)
        }
    }

    /// Validates a new job into a sequence waiting for admission; a job that cannot run ends with its error.
    private func accept(_ job: Job) {
        let request = job.request
        if job.isCancelled {
            job.continuation.finish()
            onFinish(job, .cancelled, nil)
            return
        }
        do {
            let state = try GenerationState(
                tokenizer: loaded.tokenizer, promptTokens: request.promptTokens, parameters: request.parameters,
                eosTokenIds: loaded.eosTokenIds, contextLength: request.cacheCapacity,
                constraint: request.grammar.map { constraint(for: $0, trigger: request.grammarTrigger) })
            arrivals += 1
            let cache = KVCache(pool: pool, capacity: request.cacheCapacity)
            waiting.append(EngineSequence(job: job, state: state, cache: cache, order: arrivals))
        } catch {
            logger.error("generation failed", metadata: ["request": "\(job.id)", "error": "\(error)"])
            job.continuation.finish(throwing: error)
            onFinish(job, .failed, nil)
        }
    }

    /// One step's work: each sequence with the tokens it runs, decoders first, then prefill chunks, oldest first.
    private func schedule() -> [(sequence: EngineSequence, tokens: Int)] {
        var budget = maxBatchTokens
        var plan: [(sequence: EngineSequence, tokens: Int)] = []
        var planned = Set<ObjectIdentifier>()
        let candidates = running.filter { $0.pending == 1 } + running.filter { $0.pending > 1 }
        for sequence in candidates where budget > 0 {
            guard running.contains(where: { $0 === sequence }) else { continue }  // preempted meanwhile
            var take = min(sequence.pending, budget)
            while take > 0 && !sequence.cache.reserve(take) {
                let fits = sequence.cache.room
                if fits > 0 && fits < take {
                    take = fits  // a prefill chunk shrinks to what the pool can still give
                    continue
                }
                // The pool is dry: the newest sequence not yet in this step gives its blocks back.
                guard let victim = running.filter({ !planned.contains(ObjectIdentifier($0)) }).max(by: { $0.order < $1.order })
                else { take = 0; break }
                preempt(victim)
                if victim === sequence { take = 0 }
            }
            guard take > 0 else { continue }
            plan.append((sequence, take))
            planned.insert(ObjectIdentifier(sequence))
            budget -= take
        }
        // Admission, oldest first: a sequence starts when everything it must compute now fits in the pool.
        while budget > 0, let sequence = waiting.first {
            if prefixCaching && sequence.cache.count == 0 && !sequence.wantsPromptRows {
                // Siblings (n > 1) and identical prompts share the first one's prefill instead of repeating it.
                if awaitsSharedPrefill(sequence) { break }
                sequence.cache.adoptCachedPrefix(of: sequence.tokens)
            }
            guard sequence.cache.blocksNeeded(toAdd: sequence.pending) <= pool.availableBlocks else {
                sequence.cache.reset()
                break
            }
            waiting.removeFirst()
            let index = running.firstIndex { $0.order > sequence.order } ?? running.endIndex
            running.insert(sequence, at: index)
            if sequence.cachedPromptTokens == nil {
                sequence.cachedPromptTokens = sequence.cache.count
                cachedPromptTokens += sequence.cache.count
            }
            let take = min(sequence.pending, budget)
            guard sequence.cache.reserve(take) else { preconditionFailure("admitted sequence without blocks") }
            plan.append((sequence, take))
            budget -= take
        }
        return plan
    }

    /// Whether a running sequence is still prefilling whole blocks this one's prompt starts with: once they are
    /// computed and published this one adopts them, so waiting a step saves computing them twice.
    private func awaitsSharedPrefill(_ sequence: EngineSequence) -> Bool {
        let size = KVBlockPool.blockSize
        let usable = sequence.tokens.count - 1  // the last prompt token is always run, for its logits
        guard usable >= size else { return false }
        for other in running where other.cache.count < other.state.promptTokens.count {
            var common = 0
            let limit = min(usable, other.state.promptTokens.count)
            while common < limit && sequence.tokens[common] == other.tokens[common] { common += 1 }
            let shared = common / size * size
            if shared > 0 && other.cache.count < shared { return true }
        }
        return false
    }

    /// Frees a running sequence's blocks and puts it back at the head of the waiting line; its state is kept, so
    /// once readmitted it recomputes its tokens and goes on exactly where it was.
    private func preempt(_ sequence: EngineSequence) {
        sequence.cache.reset()
        running.removeAll { $0 === sequence }
        let index = waiting.firstIndex { $0.order > sequence.order } ?? waiting.endIndex
        waiting.insert(sequence, at: index)
        sequence.preemptions += 1
        preemptions += 1
        logger.debug("preempted", metadata: ["request": "\(sequence.job.id)", "tokens": "\(sequence.tokens.count)"])
    }

    /// Runs one batched forward over the plan and advances every sequence whose logits came back.
    private func execute(_ plan: [(sequence: EngineSequence, tokens: Int)]) {
        let started = DispatchTime.now().uptimeNanoseconds
        var steps: [SequenceStep] = []
        steps.reserveCapacity(plan.count)
        var firsts: [Int] = []
        firsts.reserveCapacity(plan.count)
        for (sequence, take) in plan {
            let first = sequence.cache.count
            let last = first + take == sequence.tokens.count
            let rows: LogitRows = sequence.wantsPromptRows ? .all : (last ? .last : .none)
            steps.append(SequenceStep(tokens: Array(sequence.tokens[first..<(first + take)]), cache: sequence.cache,
                                      logits: rows))
            firsts.append(first)
            if sequence.prefillStart == nil { sequence.prefillStart = started }
        }
        let outputs: BatchLogits
        do {
            outputs = try loaded.model.forward(batch: steps)
        } catch {
            logger.error("step failed", metadata: ["model": "\(name)", "error": "\(error)"])
            for (sequence, _) in plan { fail(sequence, error) }
            return
        }
        let now = DispatchTime.now().uptimeNanoseconds
        let vocab = loaded.model.vocabularySize
        for (index, (sequence, take)) in plan.enumerated() {
            if prefixCaching { sequence.cache.publishFullBlocks(tokens: sequence.tokens) }
            var raw = outputs[index]  // (vocab), or (take, vocab) while the prompt is scored; a view of the step's buffer
            if steps[index].logits == .all {
                if sequence.scorePrompt(rows: raw, first: firsts[index], count: take, vocab: vocab) {
                    sequence.job.continuation.yield(.promptLogprobs(sequence.promptScores))
                }
                guard firsts[index] + take == sequence.tokens.count else { continue }
                raw = raw.suffix(vocab)
            } else if steps[index].logits != .last {
                continue
            }
            if sequence.prefillEnd == nil { sequence.prefillEnd = now }
            if !sequence.job.request.generates {
                end(sequence, outcome: .completed, reason: .length)
                continue
            }
            // The processors rewrite the row in place; `raw` stays as the model gave it, for logprobs.
            if processedRow.count != vocab { processedRow = [Float](repeating: 0, count: vocab) }
            processedRow.withUnsafeMutableBufferPointer { row in _ = row.update(fromContentsOf: raw) }
            let event: GenerationEvent
            do {
                event = try sequence.state.next(logits: &processedRow)
            } catch {
                fail(sequence, error)
                continue
            }
            if case .token(let id, _) = event {
                sequence.append(id)
                if let top = sequence.job.request.logprobs {
                    let logprob = raw.withUnsafeBufferPointer { TokenLogprob(logits: $0, token: id, top: top) }
                    sequence.job.continuation.yield(.logprobs(logprob))
                }
            }
            sequence.job.continuation.yield(event)
            if sequence.job.isCancelled { sequence.state.cancel() }
            if let finish = sequence.state.finish { end(sequence, outcome: finish == .cancelled ? .cancelled : .completed) }
        }
    }

    /// Reports the final event, gives the blocks back and tells the scheduler.
    /// - Parameter reason: set when the generation ends without the state deciding (a prompt scored without
    ///   generating ends as `.length`, nothing generated).
    private func end(_ sequence: EngineSequence, outcome: Outcome, reason: FinishReason? = nil) {
        let timings = sequence.timings(now: DispatchTime.now().uptimeNanoseconds)
        if let reason {
            var usage = Usage(promptTokens: sequence.state.promptTokens.count, completionTokens: sequence.state.generated.count)
            usage.cachedTokens = timings.cachedTokens
            sequence.job.continuation.yield(.done(reason, usage, timings))
        } else {
            sequence.job.continuation.yield(sequence.state.done(timings: timings))
        }
        sequence.job.continuation.finish()
        remove(sequence)
        onFinish(sequence.job, outcome, timings)
    }

    private func fail(_ sequence: EngineSequence, _ error: any Error) {
        logger.error("generation failed", metadata: ["request": "\(sequence.job.id)", "error": "\(error)"])
        sequence.job.continuation.finish(throwing: error)
        remove(sequence)
        onFinish(sequence.job, .failed, nil)
    }

    private func remove(_ sequence: EngineSequence) {
        sequence.cache.reset()
        running.removeAll { $0 === sequence }
        waiting.removeAll { $0 === sequence }
    }
}
