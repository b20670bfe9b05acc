import Foundation
import Logging
import NibbleModels
import Synchronization

/// The named models a server offers, loaded in the background at start.
///
/// Lookups never block: while a model loads, `model(named:)` throws `.modelLoading` with its progress,
/// which the server reports as 503 the way llama.cpp does.
public final class ModelRegistry: Sendable {
    /// Where one model is in its life.
    public enum State: Sendable {
        case pending
        case loading(fraction: Double, stage: String)
        case ready(LoadedModel)
        case failed(String)
    }

    /// A model's name and state, for `/health`, `/v1/models` and `/memory`.
    public struct Entry: Sendable {
        public var spec: ModelSpec
        public var state: State
        /// Seconds since 1970 when loading finished (OpenAI `created`).
        public var loadedAt: Int?
    }

    private let specs: [ModelSpec]
    /// Every name a request may use (names and aliases) to the model's name.
    private let canonicalNames: [String: String]
    private let provider: any ModelProviding
    private let logger: Logger
    private let states: Mutex<[String: (State, Int?)]>

    /// - Parameter specs: served models; the first is the default for requests that name none.
    public init(specs: [ModelSpec], provider: any ModelProviding = DiskModelProvider(),
                logger: Logger = Logger(label: "nibble.models")) {
        self.specs = specs
        var canonical: [String: String] = [:]
        for spec in specs {
            for alias in spec.aliases { canonical[alias] = canonical[alias] ?? spec.name }
        }
        for spec in specs { canonical[spec.name] = spec.name }  // a model's own name wins over another's alias
        canonicalNames = canonical
        self.provider = provider
        self.logger = logger
        states = Mutex(Dictionary(uniqueKeysWithValues: specs.map { ($0.name, (State.pending, nil)) }))
    }

    /// Model names in configuration order.
    public var names: [String] { specs.map(\.name) }

    /// The model used when a request names none.
    public var defaultName: String? { specs.first?.name }

    /// Every model with its current state, in configuration order.
    public var entries: [Entry] {
        let snapshot = states.withLock { $0 }
        return specs.map { Entry(spec: $0, state: snapshot[$0.name]?.0 ?? .pending, loadedAt: snapshot[$0.name]?.1) }
    }

    /// Whether no model is pending or loading any more.
    public var isSettled: Bool {
        entries.allSatisfy { entry in
            switch entry.state {
            case .ready, .failed: return true
            case .pending, .loading: return false
            }
        }
    }

    /// Mean loading progress over all models (failed and ready count as done).
    public var progress: Double {
        let all = entries
        guard !all.isEmpty else { return 1 }
        let total = all.reduce(0.0) { sum, entry in
            switch entry.state {
            case .pending: return sum
            case .loading(let fraction, _): return sum + fraction
            case .ready, .failed: return sum + 1
            }
        }
        return total / Double(all.count)
    }

    /// The model's name for `name`, which may be one of its aliases; nil when no model answers to it.
    public func canonicalName(_ name: String) -> String? { canonicalNames[name] }

    /// The entry answering to `name` (a model name or an alias).
    public func entry(named name: String) -> Entry? {
        guard let canonical = canonicalNames[name] else { return nil }
        return entries.first { $0.spec.name == canonical }
    }

    /// The ready model called `name`, or with `name` among its aliases (nil: the default model).
    public func model(named name: String?) throws(EngineError) -> LoadedModel {
        guard let requested = name ?? defaultName else { throw .modelNotFound("(none configured)") }
        guard let name = canonicalNames[requested], let (state, _) = states.withLock({ $0[name] })
        else { throw .modelNotFound(requested) }
        switch state {
        case .ready(let loaded): return loaded
        case .pending: throw .modelLoading(name, fraction: 0)
        case .loading(let fraction, _): throw .modelLoading(name, fraction: fraction)
        case .failed(let reason): throw .modelFailed(name, reason: reason)
        }
    }

    /// Loads every model one after another on a background thread (loading is CPU and I/O bound, and two
    /// loads at once would only compete for the same cores). Returns at once.
    public func startLoading() {
        let thread = Thread { [self] in loadAll() }
        thread.name = "nibble-model-loader"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Loads every model on the calling thread (for the CLI and tests).
    public func loadAll() {
        for spec in specs {
            set(spec.name, .loading(fraction: 0, stage: "starting"))
            logger.info("loading model", metadata: ["model": "\(spec.name)", "path": "\(spec.directory.path)"])
            let started = Date()
            do {
                let loaded = try provider.load(spec) { [self] fraction, stage in
                    set(spec.name, .loading(fraction: min(max(fraction, 0), 0.999), stage: stage))
                }
                set(spec.name, .ready(loaded), loadedAt: Int(Date().timeIntervalSince1970))
                logger.info("model ready", metadata: [
                    "model": "\(spec.name)", "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
                    "weight_bytes": "\(loaded.memory.totalBytes)",
                    "bytes_by_tier": "\(loaded.memory.bytesByTier.sorted { $0.key < $1.key })",
                    "bytes_by_format": "\(loaded.memory.bytesByFormat.sorted { $0.key < $1.key })",
                ])
                if loaded.placement.hasOffload {
                    logger.info("placement", metadata: ["model": "\(spec.name)", "plan": "\n\(loaded.placement)"])
                }
            } catch {
                set(spec.name, .failed("\(error)"))
                logger.error("model failed to load", metadata: ["model": "\(spec.name)", "error": "\(error)"])
            }
        }
    }

    /// Waits (polling) until every model is ready or failed.
    public func waitUntilSettled() async {
        while !isSettled { try? await Task.sleep(for: .milliseconds(20)) }
    }

    private func set(_ name: String, _ state: State, loadedAt: Int? = nil) {
        states.withLock { $0[name] = (state, loadedAt) }
    }
}
