import Foundation
import NibbleKernels
import NibbleModels

/// How much memory a model's KV block pool takes (`kv_cache_memory`).
public enum KVMemoryBudget: Sendable, Equatable, CustomStringConvertible {
    /// Room for every sequence slot at the model's full context, but at most a quarter of the memory available
    /// when the pool is made.
    case automatic
    /// A fixed size.
    case bytes(Int)
    /// A share (0 < share ≤ 1) of the memory available when the pool is made.
    case shareOfAvailable(Double)

    /// Reads `auto`, a size (`2GiB`, `500MB`, a byte count) or a share of free memory (`40%`).
    public init(parsing text: String) throws(EngineError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "auto" {
            self = .automatic
        } else if trimmed.hasSuffix("%") {
            guard let percent = Double(trimmed.dropLast().trimmingCharacters(in: .whitespaces)), percent > 0, percent <= 100
            else { throw .invalidSetting("kv_cache_memory", "'\(text)' is not a share of memory in (0%, 100%]") }
            self = .shareOfAvailable(percent / 100)
        } else {
            guard let size = try? MemorySize(parsing: trimmed), size.bytes > 0 else {
                throw .invalidSetting("kv_cache_memory", "'\(text)' is not a size (e.g. 2GiB, 500MB), a share (40%) or auto")
            }
            self = .bytes(size.bytes)
        }
    }

    /// The budget in bytes, given what full contexts for every slot would take.
    public func resolve(fullContextsBytes: Int) -> Int {
        switch self {
        case .bytes(let bytes): return bytes
        case .shareOfAvailable(let share): return Int(Double(Self.availableMemory()) * share)
        case .automatic: return min(fullContextsBytes, Self.availableMemory() / 4)
        }
    }

    public var description: String {
        switch self {
        case .automatic: return "auto"
        case .bytes(let bytes): return "\(bytes) bytes"
        case .shareOfAvailable(let share): return "\(share * 100)% of available memory"
        }
    }

    /// Memory the system can give without swapping: `MemAvailable` on Linux, else physical memory.
    static func availableMemory() -> Int {
        #if os(Linux)
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kib = Int(line.split(separator: " ").dropFirst().first ?? "") {
            return kib * 1024
        }
        #endif
        return Int(clamping: ProcessInfo.processInfo.physicalMemory)
    }
}

/// The KV cache settings of every model an engine serves.
public struct KVCacheSettings: Sendable, Equatable {
    /// Pool size per model.
    public var memory: KVMemoryBudget
    /// Element type of stored keys and values (`kv_cache_dtype`).
    public var dtype: KVCacheDType
    /// Whether full prompt blocks are kept and reused by later requests with the same prefix.
    public var prefixCaching: Bool

    public init(memory: KVMemoryBudget = .automatic, dtype: KVCacheDType = .float32, prefixCaching: Bool = true) {
        self.memory = memory
        self.dtype = dtype
        self.prefixCaching = prefixCaching
    }
}

/// A model's pool as reported by `/memory` and `/metrics`.
public struct KVPoolStats: Sendable, Equatable {
    public var model: String
    public var dtype: String
    public var budgetBytes: Int
    public var blockBytes: Int
    public var blocksTotal: Int
    /// Held by running sequences.
    public var blocksInUse: Int
    /// Held by nobody and naming no prefix.
    public var blocksFree: Int
    /// Held by nobody, kept for prefix reuse (evicted least recently used when room is needed).
    public var blocksCached: Int
    /// Sequences preempted (blocks freed, recomputed later) since start.
    public var preemptions: Int
    /// Prompt tokens served from cached blocks since start.
    public var cachedPromptTokens: Int
}
