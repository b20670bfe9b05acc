import CNibbleKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the C allocator places large blocks.
///
/// A batched step's largest buffers are short-lived: the logits of every returned row (up to `max_batch_tokens`
/// rows of `vocab` floats, 12 MiB for 64 sequences on a 49,152-token vocabulary). glibc raises its mapping
/// threshold to the largest block freed (up to 32 MiB), after which such buffers come from the heap and their
/// pages stay with the process after the step. With a fixed threshold they are mappings that go back to the
/// system when freed, so a server's resident memory follows what it holds. Freed heap up to twice the threshold
/// is kept for reuse, as glibc's own adjustment would: the kernels' per-call buffers of a few megabytes (a
/// prefill chunk's permuted input) are then not faulted in afresh on every call.
public enum LargeAllocations {
    /// Blocks of this size and more are mapped on their own.
    public static let mappingThreshold = 4 << 20

    /// Fixes the threshold, unless `MALLOC_MMAP_THRESHOLD_` in the environment already chose one. Does nothing
    /// where the allocator has no such setting (Darwin returns large blocks by itself).
    public static func returnToSystemWhenFreed() {
        guard getenv("MALLOC_MMAP_THRESHOLD_") == nil else { return }
        _ = nibble_set_mapping_threshold(mappingThreshold)
    }
}
