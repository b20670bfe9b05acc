#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit, which bounds how many connections can be held open.
public enum FileDescriptorLimit {
    /// Descriptors kept back from connections: model files, the listening socket, logs, pipes.
    public static let reserved = 64

    /// The soft limit (`ulimit -n`), or nil when unknown or unlimited.
    public static var current: Int? {
        var limit = rlimit()
        guard getrlimit(resourceLimit, &limit) == 0, limit.rlim_cur != unlimited else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// Raises the soft limit to the hard limit (allowed without privileges), so the default connection limit can
    /// be as large as the system lets it. Returns the resulting soft limit.
    @discardableResult
    public static func raiseToHardLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(resourceLimit, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            _ = setrlimit(resourceLimit, &raised)
        }
        return current
    }

    /// Most connections the open-file limit allows with `reserved` kept back.
    public static var connectionCeiling: Int {
        guard let current else { return 1 << 20 }
        return max(1, current - reserved)
    }

    /// 512, or less when the open-file limit is low.
    public static var defaultMaxConnections: Int { min(512, connectionCeiling) }

    #if canImport(Glibc)
    // Glibc's RLIM_INFINITY is all bits set, which does not import as a constant.
    private static var unlimited: rlim_t { rlim_t.max }
    private static var resourceLimit: __rlimit_resource_t { __rlimit_resource_t(UInt32(RLIMIT_NOFILE.rawValue)) }
    #else
    private static var unlimited: rlim_t { RLIM_INFINITY }
    private static var resourceLimit: Int32 { RLIMIT_NOFILE }
    #endif
}
