import Foundation
import Hummingbird
import NibbleEngine
import NibbleModels

/// Operational endpoints: `/health`, `/memory`, `/metrics`.
struct OpsController<Context: RequestContext>: Sendable {
    let registry: ModelRegistry
    let scheduler: Scheduler
    let metrics: ServerMetrics
    let keys: APIKeys

    func register(on router: Router<Context>) {
        router.get("/health") { request, _ in try health(request) }
        router.get("/memory") { _, _ in try memory() }
        router.get("/metrics") { _, _ in prometheus() }
    }

    /// 503 while any model loads (llama.cpp's envelope plus progress); once every model is settled, 200 when
    /// all serve and 503 with "degraded" (some failed) or "error" (none serves). Model names and states are
    /// shown only with a key; failure reasons (which may hold file paths) only in the log.
    func health(_ request: Request) throws -> Response {
        guard registry.isSettled else { throw APIError.loading(progress: registry.progress) }
        let entries = registry.entries
        let states = entries.map { entry -> HealthDTO.Model in
            switch entry.state {
            case .ready: return .init(name: entry.spec.name, state: "ok")
            case .pending, .loading: return .init(name: entry.spec.name, state: "loading")
            case .failed: return .init(name: entry.spec.name, state: "failed")
            }
        }
        let failed = states.filter { $0.state == "failed" }.count
        let status = failed == 0 ? "ok" : failed == states.count ? "error" : "degraded"
        let body = HealthDTO(status: status, models: keys.authorizes(request) ? states : nil)
        return try json(body, status: failed == 0 ? .ok : .serviceUnavailable)
    }

    func memory() throws -> Response {
        let process = ProcessMemory.current()
        let stats = scheduler.stats
        let now = Date().timeIntervalSince1970
        let models = registry.entries.map { entry -> MemoryReportDTO.Model in
            let kv = stats.activeRequests.filter { $0.model == entry.spec.name }.reduce(0) { $0 + $1.kvCacheBytes }
            switch entry.state {
            case .ready(let loaded):
                let report = loaded.memory
                return .init(
                    name: entry.spec.name, status: "loaded",
                    weights: .init(totalBytes: report.totalBytes, parameters: report.parameters, byTier: report.bytesByTier,
                                   byFormat: report.bytesByFormat, byModuleKind: report.bytesByModuleKind),
                    placement: loaded.placement.assignments.map { .init(module: $0.module, tier: $0.tier.rawValue, bytes: $0.bytes) },
                    kvCacheBytes: kv)
            case .pending, .loading: return .init(name: entry.spec.name, status: "loading", kvCacheBytes: kv)
            case .failed: return .init(name: entry.spec.name, status: "failed", kvCacheBytes: kv)
            }
        }
        let requests = stats.activeRequests.map {
            MemoryReportDTO.Request(id: $0.id, model: $0.model, endpoint: $0.label, promptTokens: $0.promptTokens,
                                    generatedTokens: $0.generatedTokens, kvCacheBytes: $0.kvCacheBytes,
                                    runningSeconds: max(0, now - $0.startedAt))
        }
        let report = MemoryReportDTO(
            process: .init(residentBytes: process.residentBytes, peakResidentBytes: process.peakResidentBytes),
            system: Self.systemMemory(), models: models,
            kvCache: .init(bytesInUse: stats.kvCacheBytesInUse, requests: requests, pools: stats.kvPools.map {
                .init(model: $0.model, dtype: $0.dtype, budgetBytes: $0.budgetBytes, blockBytes: $0.blockBytes,
                      blocksTotal: $0.blocksTotal, blocksInUse: $0.blocksInUse, blocksFree: $0.blocksFree,
                      blocksCached: $0.blocksCached, preemptions: $0.preemptions)
            }))
        return try json(report)
    }

    func prometheus() -> Response {
        let text = metrics.render(engine: scheduler.stats, registry: registry, memory: ProcessMemory.current())
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `MemTotal` and `MemAvailable` from `/proc/meminfo` (Linux); empty elsewhere.
    static func systemMemory() -> MemoryReportDTO.System {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return .init() }
        func field(_ name: String) -> Int? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return .init(totalBytes: field("MemTotal"), availableBytes: field("MemAvailable"))
    }
}
