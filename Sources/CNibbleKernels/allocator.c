// The allocator setting `LargeAllocations` needs; malloc.h is not part of Swift's Glibc module.
#include "nibble_kernels.h"
#if defined(__GLIBC__)
#include <limits.h>
#include <malloc.h>
#endif

int nibble_set_mapping_threshold(size_t bytes) {
#if defined(__GLIBC__)
    if (bytes > INT_MAX) return 0;
    return mallopt(M_MMAP_THRESHOLD, (int)bytes);
#else
    (void)bytes;
    return 0;
#endif
}
