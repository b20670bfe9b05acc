import Foundation
import NibbleEngine
import NibbleFormats
import NibbleModels
import NibbleTokenizer
import Synchronization

/// A tokenizer with three specials, 256 byte-fallback tokens and a few words, so tests can split text
/// anywhere (even inside a UTF-8 character) and read ids by eye.
///
/// Ids: 0 `<unk>`, 1 `<s>`, 2 `</s>`, 3...258 `<0x00>`...`<0xFF>`, then `words` from 259.
public struct FakeTokenizer: Tokenizer {
    public init() {}

    public static let words = ["Hello", " world", "#", "##", " ###", "!", " Human", ":", "\n", " the"]
    public static let firstWord = 259

    public var vocabularySize: Int { Self.firstWord + Self.words.count }
    public var bosTokenId: Int? { 1 }
    public var eosTokenId: Int? { 2 }
    public var addsBosToken: Bool { true }

    public static func word(_ text: String) -> Int { firstWord + words.firstIndex(of: text)! }
    public static func byte(_ value: UInt8) -> Int { 3 + Int(value) }
    public static func bytes(_ text: String) -> [Int] { text.utf8.map(byte) }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids = addSpecialTokens ? [1] : []
        var rest = Substring(text)
        while !rest.isEmpty {
            if let (index, word) = Self.words.enumerated().filter({ rest.hasPrefix($0.element) })
                .max(by: { $0.element.utf8.count < $1.element.utf8.count }) {
                ids.append(Self.firstWord + index)
                rest = rest.dropFirst(word.count)
            } else {
                ids += Self.bytes(String(rest.first!))
                rest = rest.dropFirst()
            }
        }
        return ids
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            switch id {
            case 0...2: if !skipSpecialTokens { bytes += Array(["<unk>", "<s>", "</s>"][id].utf8) }
            case 3..<Self.firstWord: bytes.append(UInt8(id - 3))
            default: bytes += Array(Self.words[id - Self.firstWord].utf8)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func tokenId(for token: String) -> Int? { (0..<vocabularySize).first { tokenString(for: $0) == token } }

    public func tokenString(for id: Int) -> String? {
        switch id {
        case 0...2: return ["<unk>", "<s>", "</s>"][id]
        case 3..<Self.firstWord: return String(format: "<0x%02X>", id - 3)
        case Self.firstWord..<vocabularySize: return Self.words[id - Self.firstWord]
        default: return nil
        }
    }

    public func isSpecial(_ id: Int) -> Bool { id <= 2 }
}

/// A model that plays a fixed continuation, so generation tests can predict every token.
///
/// After the prompt, the `i`-th step that asks for logits strongly prefers `script[i]`; past the script (or with
/// an empty one) the logits are a smooth, seed-sensitive function of the last token. Steps are counted per cache,
/// because the cache's position counter belongs to the real model implementation; prefill chunks that return no
/// logits do not count, and a recomputation after preemption asks for exactly the logits the next step would have.
///
/// Every `forward(batch:)` call is recorded (`batches`: the token count of each sequence in it) and, with a
/// `gate`, waits until the test allows it, so engine tests can count steps instead of timing them.
public final class ScriptedModel: LanguageModel, @unchecked Sendable {
    public let vocabularySize: Int
    public let maxContextLength: Int
    public let script: [Int]
    public let stepDelay: TimeInterval
    /// When set, each forward call takes one permit.
    public let gate: StepGate?
    private let lock = NSLock()
    private var steps: [ObjectIdentifier: Int] = [:]
    private var caches: [KVCache] = []  // keeps identifiers unique while the model lives
    private var _forwardCalls = 0
    private var _batches: [[Int]] = []
    /// Forward calls so far (one per engine step).
    public var forwardCalls: Int { lock.withLock { _forwardCalls } }
    /// Per forward call, the number of tokens each sequence ran.
    public var batches: [[Int]] { lock.withLock { _batches } }

    public init(vocabularySize: Int = FakeTokenizer.firstWord + FakeTokenizer.words.count, maxContextLength: Int = 256,
         script: [Int] = [], stepDelay: TimeInterval = 0, gate: StepGate? = nil) {
        self.vocabularySize = vocabularySize
        self.maxContextLength = maxContextLength
        self.script = script
        self.stepDelay = stepDelay
        self.gate = gate
    }

    public func makeCache(capacity: Int) -> KVCache {
        let cache = KVCache(layerCount: 1, kvDim: 1, capacity: capacity)
        lock.withLock { caches.append(cache) }
        return cache
    }

    public func forward(batch: [SequenceStep]) throws -> BatchLogits {
        for step in batch {
            guard !step.tokens.isEmpty else { throw ModelError.emptyInput }
            guard step.tokens.count <= step.cache.room else {
                throw ModelError.contextOverflow(requested: step.cache.count + step.tokens.count, capacity: step.cache.capacity)
            }
        }
        gate?.wait()
        lock.withLock {
            _forwardCalls += 1
            _batches.append(batch.map(\.tokens.count))
        }
        if stepDelay > 0 { Thread.sleep(forTimeInterval: stepDelay) }
        let rows: [[Float]] = batch.map { step in
            let logits = step.logits == .none ? [] : run(step.tokens, cache: step.cache)
            step.cache.advance(by: step.tokens.count)
            switch step.logits {
            case .none: return []
            case .last: return logits
            case .all: return Array(repeating: logits, count: step.tokens.count).flatMap { $0 }
            }
        }
        return BatchLogits(values: rows.flatMap { $0 }, vocabularySize: vocabularySize,
                           rowCounts: rows.map { $0.count / vocabularySize })
    }

    private func run(_ tokens: [Int], cache: KVCache) -> [Float] {
        let step: Int = lock.withLock {
            // Keep every cache seen alive, so no later cache reuses its identifier and inherits its step count.
            if steps[ObjectIdentifier(cache)] == nil { caches.append(cache) }
            let step = steps[ObjectIdentifier(cache), default: 0]
            steps[ObjectIdentifier(cache)] = step + 1
            return step
        }
        let last = tokens.last!
        var logits = (0..<vocabularySize).map { Float(sin(Double($0 * 7 + last * 13))) }
        if step < script.count { logits[script[step]] = 30 }
        return logits
    }
}

/// Permits for a gated model's forward calls: each call takes one, waiting until a test allows more.
public final class StepGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var permits = 0
    private var waiters = 0

    public init() {}

    /// Lets `count` more forward calls run.
    public func allow(_ count: Int = 1) {
        condition.lock()
        permits += count
        condition.broadcast()
        condition.unlock()
    }

    /// Lets every call run from now on.
    public func open() { allow(Int.max / 2) }

    /// Whether a forward call is waiting for a permit now.
    public var hasWaiter: Bool { condition.lock(); defer { condition.unlock() }; return waiters > 0 }

    func wait() {
        condition.lock()
        waiters += 1
        condition.broadcast()
        while permits == 0 { condition.wait() }
        permits -= 1
        waiters -= 1
        condition.unlock()
    }

    /// Blocks until a forward call waits for a permit (the engine has built its next step).
    public func waitForWaiter() {
        condition.lock()
        while waiters == 0 { condition.wait() }
        condition.unlock()
    }
}

// MARK: - Engine fakes

/// Wraps a fake model in the `LoadedModel` the server serves.
public func makeLoaded(_ model: ScriptedModel, name: String = "fake") throws -> LoadedModel {
    let config = try ModelConfig(json: Data("""
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
         "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
         "vocab_size": \(model.vocabularySize), "max_position_embeddings": \(model.maxContextLength),
         "bos_token_id": 1, "eos_token_id": 2}
        """.utf8))
    return LoadedModel(directory: URL(fileURLWithPath: "/fake/\(name)"), model: model, tokenizer: FakeTokenizer(),
                       adapter: LlamaAdapter(), config: config, generationConfig: GenerationConfig(),
                       eosTokenIds: [2], memory: WeightMemoryReport())
}

/// Serves fixed fake models by name; optionally holds loading until `release()`.
public final class FakeProvider: ModelProviding {
    public let models: [String: ScriptedModel]
    private let gate: Mutex<Bool>

    public init(_ models: [String: ScriptedModel], gated: Bool = false) {
        self.models = models
        gate = Mutex(!gated)
    }

    public func release() { gate.withLock { $0 = true } }

    public func load(_ spec: ModelSpec, progress: @escaping @Sendable (Double, String) -> Void) throws -> LoadedModel {
        progress(0.25, "loading weights")
        while !gate.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.005) }
        guard let model = models[spec.name] else { throw ModelError.invalidOptions("no fake named \(spec.name)") }
        return try makeLoaded(model, name: spec.name)
    }
}
