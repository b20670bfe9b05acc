// The allocator setting `LargeAllocations` needs; malloc.h is not part of Swift's Glibc module.
#include "nibble_kernels.h"
#if defined(__GLIBC__)
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#endif

int nibble_set_mapping_threshold(size_t bytes) {
#if defined(__GLIBC__)
    if (bytes > INT_MAX / 2) return 0;
    // A fixed mapping threshold also freezes the trim threshold at its 128 KiB default, and then every freed
    // multi-megabyte kernel buffer below the mapping size is handed back and faulted in again on the next call
    // (a third slower prefill). Twice the mapping threshold is the ratio glibc's own adjustment keeps.
    if (!getenv("MALLOC_TRIM_THRESHOLD_") && !mallopt(M_TRIM_THRESHOLD, (int)(2 * bytes))) return 0;
    return mallopt(M_MMAP_THRESHOLD, (int)bytes);
#else
    (void)bytes;
    return 0;
#endif
}
