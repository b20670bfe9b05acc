import Dispatch
import Foundation

/// Splits loops across cores. Backed by Dispatch's process-wide worker pool, which keeps its threads alive
/// between calls, so a decode step does not pay thread start-up per matmul.
public enum Parallel {
    /// Worker count used by kernels; `NIBBLE_THREADS` overrides the number of active cores.
    public static let defaultThreadCount: Int = {
        if let text = ProcessInfo.processInfo.environment["NIBBLE_THREADS"], let n = Int(text), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    nonisolated(unsafe) private static var configuredThreads = defaultThreadCount

    /// Number of chunks kernels split work into (settable once at start-up, e.g. by `--threads`).
    public static var threadCount: Int {
        get { configuredThreads }
        set { configuredThreads = max(1, newValue) }
    }

    /// Runs `body` over `0..<count` in contiguous chunks, in parallel when the work is large enough to pay
    /// for the hand-off. `work` estimates the cost (e.g. multiply-adds) of the whole loop.
    @inlinable
    public static func forRange(_ count: Int, work: Int, body: (Range<Int>) -> Void) {
        let threads = threadCount
        if threads <= 1 || count < 2 || work < 1 << 16 {
            body(0..<count)
            return
        }
        let chunks = min(threads, count)
        withoutActuallyEscaping(body) { body in
            // Each chunk touches a disjoint range; callers guarantee that, so sharing the closure is safe.
            nonisolated(unsafe) let shared = body
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                if start < end { shared(start..<end) }
            }
        }
    }
}
