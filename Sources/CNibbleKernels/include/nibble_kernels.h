#ifndef NIBBLE_KERNELS_H
#define NIBBLE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// CPU features the vector kernels can use, detected once at run time.
typedef struct {
    int avx2;
    int fma;
    int f16c;
} nibble_cpu_features;

/// Detects the running CPU's features (all zero on non-x86 machines).
nibble_cpu_features nibble_detect_cpu_features(void);

#endif
