#include "nibble_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

nibble_cpu_features nibble_detect_cpu_features(void) {
    nibble_cpu_features features = {0, 0, 0};
    unsigned int eax, ebx, ecx, edx;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        features.fma = (ecx >> 12) & 1;
        features.f16c = (ecx >> 29) & 1;
    }
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
        features.avx2 = (ebx >> 5) & 1;
    }
    return features;
}
#else
nibble_cpu_features nibble_detect_cpu_features(void) {
    nibble_cpu_features features = {0, 0, 0};
    return features;
}
#endif
