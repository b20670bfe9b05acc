import Foundation
import NibbleEngine
import NibbleModels
import Synchronization

/// HTTP-level counters; engine and memory numbers are read live when `/metrics` is scraped.
public final class ServerMetrics: Sendable {
    private struct Key: Hashable, Comparable {
        var endpoint: String
        var status: Int
        static func < (a: Key, b: Key) -> Bool { (a.endpoint, a.status) < (b.endpoint, b.status) }
    }

    private let requests = Mutex<[Key: Int]>([:])
    private let connectionLimiter = Mutex<ConnectionLimiter?>(nil)

    public init() {}

    /// The listening server's connection limiter, read for connection gauges.
    var connections: ConnectionLimiter? {
        get { connectionLimiter.withLock { $0 } }
        set { connectionLimiter.withLock { $0 = newValue } }
    }

    /// Counts one finished request.
    func record(endpoint: String, status: Int) {
        requests.withLock { $0[Key(endpoint: endpoint, status: status), default: 0] += 1 }
    }

    /// Requests served for an endpoint and status (tests, `/metrics`).
    public func count(endpoint: String, status: Int) -> Int {
        requests.withLock { $0[Key(endpoint: endpoint, status: status)] ?? 0 }
    }

    /// The Prometheus text exposition (format 0.0.4).
    func render(engine: EngineStats, registry: ModelRegistry, memory: ProcessMemory) -> String {
        var out = PrometheusText()
        out.family("nibble_requests_total", "counter", "HTTP requests by endpoint and status.")
        for (key, value) in requests.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            out.sample("nibble_requests_total", ["endpoint": key.endpoint, "status": String(key.status)], Double(value))
        }
        if let connections = connections?.counts {
            out.single("nibble_connections_open", "gauge", "Open client connections.", Double(connections.open))
            out.family("nibble_connections_closed_total", "counter", "Connections closed at the connection limit.")
            out.sample("nibble_connections_closed_total", ["reason": "idle_evicted"], Double(connections.evicted))
            out.sample("nibble_connections_closed_total", ["reason": "refused"], Double(connections.refused))
        }
        out.single("nibble_prompt_tokens_total", "counter", "Prompt tokens processed.", Double(engine.promptTokens))
        out.single("nibble_generated_tokens_total", "counter", "Tokens generated.", Double(engine.generatedTokens))
        out.single("nibble_prompt_seconds_total", "counter", "Time spent in prefill.", engine.promptSeconds)
        out.single("nibble_decode_seconds_total", "counter", "Time spent generating tokens.", engine.decodeSeconds)
        out.single("nibble_decode_tokens_per_second", "gauge", "Generated tokens per second of decoding since start.",
                   engine.decodeTokensPerSecond)
        out.single("nibble_queue_depth", "gauge", "Requests waiting for a generation slot.", Double(engine.queued))
        out.single("nibble_requests_active", "gauge", "Requests generating now.", Double(engine.active))
        out.single("nibble_slots", "gauge", "Generation slots.", Double(engine.maxConcurrent))
        out.family("nibble_generations_total", "counter", "Generations by outcome.")
        for (outcome, value) in [("completed", engine.completed), ("cancelled", engine.cancelled),
                                 ("failed", engine.failed), ("rejected", engine.rejected)] {
            out.sample("nibble_generations_total", ["outcome": outcome], Double(value))
        }
        out.single("nibble_kv_cache_bytes", "gauge", "KV cache bytes held by running requests.",
                   Double(engine.kvCacheBytesInUse))
        out.family("nibble_kv_blocks", "gauge", "KV cache blocks by model and state (in_use, free, cached).")
        for pool in engine.kvPools {
            for (state, value) in [("in_use", pool.blocksInUse), ("free", pool.blocksFree), ("cached", pool.blocksCached)] {
                out.sample("nibble_kv_blocks", ["model": pool.model, "state": state], Double(value))
            }
        }
        out.family("nibble_kv_preemptions_total", "counter", "Sequences preempted (KV blocks freed, recomputed later).")
        for pool in engine.kvPools { out.sample("nibble_kv_preemptions_total", ["model": pool.model], Double(pool.preemptions)) }
        out.family("nibble_kv_cached_prompt_tokens_total", "counter", "Prompt tokens served from the prefix cache.")
        for pool in engine.kvPools {
            out.sample("nibble_kv_cached_prompt_tokens_total", ["model": pool.model], Double(pool.cachedPromptTokens))
        }
        out.single("nibble_process_resident_bytes", "gauge", "Resident set size.", Double(memory.residentBytes))
        out.single("nibble_process_peak_resident_bytes", "gauge", "Peak resident set size.",
                   Double(memory.peakResidentBytes))
        out.family("nibble_model_loaded", "gauge", "1 when the model is ready to serve.")
        out.family("nibble_model_weight_bytes", "gauge", "Weight bytes by model and tier.")
        for entry in registry.entries {
            var ready = 0.0
            if case .ready(let loaded) = entry.state {
                ready = 1
                for (tier, bytes) in loaded.memory.bytesByTier.sorted(by: { $0.key < $1.key }) {
                    out.sample("nibble_model_weight_bytes", ["model": entry.spec.name, "tier": tier], Double(bytes))
                }
            }
            out.sample("nibble_model_loaded", ["model": entry.spec.name], ready)
        }
        return out.text
    }
}

/// Builds the text format; families are declared once with HELP and TYPE.
struct PrometheusText {
    private(set) var text = ""

    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
        let rendered = labels.sorted { $0.key < $1.key }
            .map { "\($0.key)=\"\(escape($0.value))\"" }.joined(separator: ",")
        text += rendered.isEmpty ? "\(name) \(format(value))\n" : "\(name){\(rendered)} \(format(value))\n"
    }

    mutating func single(_ name: String, _ type: String, _ help: String, _ value: Double) {
        family(name, type, help)
        sample(name, [:], value)
    }

    private func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    private func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
