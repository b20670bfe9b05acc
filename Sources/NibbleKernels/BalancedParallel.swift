import CNibbleKernels

extension Parallel {
    /// Like `forRange`, but cut into several chunks per thread that threads claim as they go. On a machine
    /// shared with other processes a thread is often descheduled mid-job: with one chunk per thread the others
    /// then wait for its whole share, with several they take over the chunks it has not started.
    /// Used by the quantized kernels, whose chunks are long enough that the extra hand-offs cost nothing.
    public static func forRangeBalanced(_ count: Int, work: Int, granularity: Int = 1, chunksPerThread: Int = 4,
                                        body: (Range<Int>) -> Void) {
        let threads = threadCount
        let units = (count + granularity - 1) / max(granularity, 1)
        guard backend == .pool, threads > 1, units >= 2, work >= minimumParallelWork else {
            forRange(count, work: work, granularity: granularity, body: body)
            return
        }
        let chunks = min(threads * max(chunksPerThread, 1), units)
        withoutActuallyEscaping(body) { body in
            var job = BalancedJob(body: body, count: count, chunks: chunks, units: units, granularity: granularity)
            withUnsafeMutablePointer(to: &job) { pointer in
                nibble_pool_run(threads, chunks, { context, chunk in
                    context!.assumingMemoryBound(to: BalancedJob.self).pointee.run(chunk)
                }, pointer)
            }
        }
    }
}

/// One parallel loop cut into `chunks` contiguous ranges of whole `granularity`-sized units.
private struct BalancedJob {
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
