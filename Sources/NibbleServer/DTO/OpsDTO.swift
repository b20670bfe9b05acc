/// `GET /health` when ready.
struct HealthDTO: Encodable {
    /// "ok" when every model serves, "degraded" when some failed, "error" when none serves.
    var status = "ok"
    /// Each model's state; only for requests that carry a key (or when no keys are configured).
    var models: [Model]?

    struct Model: Encodable {
        var name: String
        /// "ok", "loading" or "failed".
        var state: String
    }
}

/// `GET /memory`: measured numbers, never estimates.
struct MemoryReportDTO: Encodable {
    struct Process: Encodable {
        var residentBytes: Int
        var peakResidentBytes: Int
        enum CodingKeys: String, CodingKey { case residentBytes = "resident_bytes", peakResidentBytes = "peak_resident_bytes" }
    }

    struct System: Encodable {
        var totalBytes: Int?
        var availableBytes: Int?
        enum CodingKeys: String, CodingKey { case totalBytes = "total_bytes", availableBytes = "available_bytes" }
    }

    struct Weights: Encodable {
        var totalBytes: Int
        var parameters: Int
        var byTier: [String: Int]
        var byFormat: [String: Int]
        var byModuleKind: [String: Int]
        enum CodingKeys: String, CodingKey {
            case parameters, totalBytes = "total_bytes", byTier = "by_tier", byFormat = "by_format"
            case byModuleKind = "by_module_kind"
        }
    }

    struct Placement: Encodable {
        var module: String
        var tier: String
        var bytes: Int
    }

    struct Model: Encodable {
        var name: String
        var status: String
        var weights: Weights?
        var placement: [Placement]?
        var kvCacheBytes: Int
        enum CodingKeys: String, CodingKey { case name, status, weights, placement, kvCacheBytes = "kv_cache_bytes" }
    }

    struct Request: Encodable {
        var id: Int
        var model: String
        var endpoint: String
        var promptTokens: Int
        var generatedTokens: Int
        var kvCacheBytes: Int
        var runningSeconds: Double
        enum CodingKeys: String, CodingKey {
            case id, model, endpoint, promptTokens = "prompt_tokens", generatedTokens = "generated_tokens"
            case kvCacheBytes = "kv_cache_bytes", runningSeconds = "running_seconds"
        }
    }

    struct KVCache: Encodable {
        var bytesInUse: Int
        var requests: [Request]
        var pools: [Pool]
        enum CodingKeys: String, CodingKey { case requests, pools, bytesInUse = "bytes_in_use" }
    }

    /// One model's KV block pool.
    struct Pool: Encodable {
        var model: String
        var dtype: String
        var budgetBytes: Int
        var blockBytes: Int
        var blocksTotal: Int
        var blocksInUse: Int
        var blocksFree: Int
        var blocksCached: Int
        var preemptions: Int
        enum CodingKeys: String, CodingKey {
            case model, dtype, preemptions
            case budgetBytes = "budget_bytes", blockBytes = "block_bytes", blocksTotal = "blocks_total"
            case blocksInUse = "blocks_in_use", blocksFree = "blocks_free", blocksCached = "blocks_cached"
        }
    }

    var process: Process
    var system: System
    var models: [Model]
    var kvCache: KVCache

    enum CodingKeys: String, CodingKey { case process, system, models, kvCache = "kv_cache" }
}
