import Foundation
import NibbleEngine
import NibbleFormats
import NibbleGeneration
import NibbleModels
import NibbleTestFakes
import Synchronization
import Testing

func request(_ loaded: LoadedModel, maxNewTokens: Int = 8, ignoreEOS: Bool = true) -> GenerationRequest {
    var parameters = GenerationParameters()
    parameters.doSample = false
    parameters.maxNewTokens = maxNewTokens
    parameters.ignoreEOS = ignoreEOS
    return GenerationRequest(modelName: "fake", model: loaded, promptTokens: [1, 3, 4], parameters: try! parameters.validated())
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

@Suite struct SchedulerTests {
    @Test func runsAGenerationToCompletion() async throws {
        let scheduler = Scheduler()
        let loaded = try makeLoaded(ScriptedModel(script: [FakeTokenizer.word("Hello"), 2]))
        let result = try await GenerationResult(folding: scheduler.submit(request(loaded, ignoreEOS: false)))
        #expect(result.text == "Hello")
        #expect(result.finishReason == .stop(.eos(tokenId: 2)))
        #expect(await eventually { scheduler.stats.completed == 1 && scheduler.stats.active == 0 })
        #expect(scheduler.stats.generatedTokens == 2)
        #expect(scheduler.stats.promptTokens == 3)
    }

    @Test func queueIsBoundedAndServedInOrder() async throws {
        let scheduler = Scheduler(limits: SchedulerLimits(maxConcurrent: 1, maxQueued: 1, retryAfterSeconds: 3))
        let loaded = try makeLoaded(ScriptedModel(stepDelay: 0.005))
        let first = try scheduler.submit(request(loaded, maxNewTokens: 10))
        let second = try scheduler.submit(request(loaded, maxNewTokens: 10))
        #expect(scheduler.stats.queued == 1 && scheduler.stats.active == 1)
        #expect(throws: EngineError.queueFull(retryAfterSeconds: 3)) { try scheduler.submit(request(loaded)) }
        #expect(scheduler.stats.rejected == 1)

        // The scheduler counts a generation completed before it gives the slot to the next, so by the second's
        // first event a generation has completed (ordered by events, not by clock readings); had the second run
        // first, nothing would have completed yet when its first event arrived.
        var secondEvents = second.makeAsyncIterator()
        _ = try await secondEvents.next()
        #expect(scheduler.stats.completed >= 1)
        for try await _ in first {}
        while try await secondEvents.next() != nil {}
        #expect(await eventually { scheduler.stats.completed == 2 })
    }

    @Test func droppingTheStreamCancelsAtTheNextToken() async throws {
        let scheduler = Scheduler()
        let gate = StepGate()
        let model = ScriptedModel(gate: gate)
        let loaded = try makeLoaded(model)
        gate.allow(3)
        var seen = 0
        for try await event in try scheduler.submit(request(loaded, maxNewTokens: 200)) {
            if case .token = event { seen += 1 }
            if seen == 3 { break }
        }
        // The engine waits for its fourth step's permit; once it runs, the dropped stream ends the generation.
        gate.open()
        #expect(await eventually(within: 30) { scheduler.stats.active == 0 && scheduler.stats.cancelled == 1 })
        #expect(model.forwardCalls <= 5)
        #expect(scheduler.stats.completed == 0)
    }

    @Test func cancellingAQueuedRequestRemovesIt() async throws {
        let scheduler = Scheduler(limits: SchedulerLimits(maxConcurrent: 1, maxQueued: 4))
        let gate = StepGate()
        let loaded = try makeLoaded(ScriptedModel(gate: gate))
        // Held at its first step, the running request keeps the one slot until the gate opens.
        let running = try scheduler.submit(request(loaded, maxNewTokens: 30))
        let task = Task {
            for try await _ in try scheduler.submit(request(loaded)) {}
        }
        #expect(await eventually(within: 30) { scheduler.stats.queued == 1 })
        task.cancel()
        #expect(await eventually(within: 30) { scheduler.stats.queued == 0 && scheduler.stats.cancelled == 1 })
        gate.open()
        for try await _ in running {}
        #expect(await eventually(within: 30) { scheduler.stats.completed == 1 })
    }

    @Test func reportsKVCacheBytesOfRunningRequestsAsBlocksAreTaken() async throws {
        let scheduler = Scheduler()
        let gate = StepGate()
        let loaded = try makeLoaded(ScriptedModel(gate: gate))
        let stream = try scheduler.submit(request(loaded, maxNewTokens: 50))
        var iterator = stream.makeAsyncIterator()
        gate.allow(1)
        _ = try await iterator.next()
        // The fake keeps 1 layer of width 1: a block of 16 positions is 2 (K and V) * 16 * 4 bytes. After the
        // prefill the sequence holds the block of its 3 prompt positions, not room for all it may generate.
        #expect(await eventually { scheduler.stats.activeRequests.first?.kvCacheBytes == 128 })
        gate.allow(20)
        for _ in 0..<20 { _ = try await iterator.next() }
        #expect(await eventually { scheduler.stats.kvCacheBytesInUse == 2 * 128 })
        #expect(scheduler.stats.kvPools.first?.blocksInUse == 2)
        gate.open()
        while try await iterator.next() != nil {}
        #expect(await eventually { scheduler.stats.kvPools.first?.blocksInUse == 0 })
    }
}

@Suite struct ModelRegistryTests {
    final class SlowProvider: ModelProviding {
        let gate = Mutex(false)
        func load(_ spec: ModelSpec, progress: @escaping @Sendable (Double, String) -> Void) throws -> LoadedModel {
            if spec.name == "broken" { throw ModelError.invalidOptions("no weights") }
            progress(0.5, "loading weights")
            while !gate.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.005) }
            return try makeLoaded(ScriptedModel(), name: spec.name)
        }
    }

    @Test func reportsProgressThenServes() async throws {
        let provider = SlowProvider()
        let registry = ModelRegistry(specs: [ModelSpec(name: "a", directory: URL(fileURLWithPath: "/a")),
                                             ModelSpec(name: "broken", directory: URL(fileURLWithPath: "/b"))],
                                     provider: provider)
        #expect(registry.defaultName == "a")
        registry.startLoading()
        #expect(await eventually { registry.progress > 0.2 })
        #expect(throws: EngineError.modelLoading("a", fraction: 0.5)) { try registry.model(named: "a") }
        #expect(!registry.isSettled)
        provider.gate.withLock { $0 = true }
        await registry.waitUntilSettled()
        #expect(try registry.model(named: nil).directory.path == "/fake/a")
        #expect(throws: EngineError.modelFailed("broken", reason: "no weights")) { try registry.model(named: "broken") }
        #expect(throws: EngineError.modelNotFound("nope")) { try registry.model(named: "nope") }
        #expect(registry.progress == 1)
    }
}
