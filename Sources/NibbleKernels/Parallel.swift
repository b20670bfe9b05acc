import CNibbleKernels
import Dispatch
import Foundation

/// Splits loops across cores.
///
/// The default backend is a persistent pool (C, pthreads): handing a job to workers that are already spinning
/// costs well under a microsecond, which matters when one decode step runs a few hundred small matmuls.
/// `NIBBLE_POOL=dispatch` switches to `DispatchQueue.concurrentPerform` for comparison.
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

    /// How parallel loops are handed to threads.
    public enum Backend: String, Sendable {
        /// The persistent spin-then-sleep pool.
        case pool
        /// Dispatch's global concurrent queue.
        case dispatch
    }

    /// The backend in use: `NIBBLE_POOL=dispatch` selects Dispatch, anything else the pool.
    public static let backend: Backend = {
        ProcessInfo.processInfo.environment["NIBBLE_POOL"]?.lowercased() == "dispatch" ? .dispatch : .pool
    }()

    /// Smallest `work` (multiply-adds, roughly) worth splitting: below it the hand-off costs more than it saves.
    public static let minimumParallelWork = 1 << 15

    /// Runs `body` over `0..<count` in contiguous chunks, in parallel when the work is large enough to pay
    /// for the hand-off. `work` estimates the cost (e.g. multiply-adds) of the whole loop. Chunk boundaries
    /// are multiples of `granularity` (except the end), so kernels with register tiles get whole tiles.
    ///
    /// `chunksPerThread` above 1 cuts the loop finer and threads claim chunks as they go: on a machine shared
    /// with other processes a thread is often descheduled mid-job, and then the others take over the chunks it
    /// has not started instead of waiting for its whole share. Worth it for long chunks (the quantized kernels).
    public static func forRange(_ count: Int, work: Int, granularity: Int = 1, chunksPerThread: Int = 1,
                                body: (Range<Int>) -> Void) {
        let threads = threadCount
        let units = (count + granularity - 1) / max(granularity, 1)
        if threads <= 1 || units < 2 || work < minimumParallelWork {
            body(0..<count)
            return
        }
        let chunks = min(threads * max(chunksPerThread, 1), units)
        withoutActuallyEscaping(body) { body in
            var job = ChunkedJob(body: body, count: count, chunks: chunks, units: units, granularity: granularity)
            switch backend {
            case .pool:
                withUnsafeMutablePointer(to: &job) { pointer in
                    nibble_pool_run(threads, chunks, { context, chunk in
                        context!.assumingMemoryBound(to: ChunkedJob.self).pointee.run(chunk)
                    }, pointer)
                }
            case .dispatch:
                // Each chunk touches a disjoint range; callers guarantee that, so sharing the job is safe.
                nonisolated(unsafe) let shared = job
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in shared.run(chunk) }
            }
        }
    }
}

/// One parallel loop cut into `chunks` contiguous ranges of whole `granularity`-sized units.
private struct ChunkedJob {
    let body: (Range<Int>) -> Void
    let count: Int
    let chunks: Int
    let units: Int
    let granularity: Int

    func run(_ chunk: Int) {
        let start = min(count, units * chunk / chunks * granularity)
        let end = min(count, units * (chunk + 1) / chunks * granularity)
        if start < end { body(start..<end) }
    }
}
