#include "nibble_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/// XCR0: which register states the operating system saves on context switches.
static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

nibble_cpu_features nibble_detect_cpu_features(void) {
    nibble_cpu_features features = {0, 0, 0, 0};
    unsigned int eax, ebx, ecx, edx;
    int osxsave = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        features.fma = (ecx >> 12) & 1;
        features.f16c = (ecx >> 29) & 1;
        osxsave = (ecx >> 27) & 1;
    }
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
        features.avx2 = (ebx >> 5) & 1;
        // F (16), DQ (17), BW (30), VL (31).
        int avx512 = ((ebx >> 16) & 1) && ((ebx >> 17) & 1) && ((ebx >> 30) & 1) && ((ebx >> 31) & 1);
        // The OS must save SSE, AVX and the three AVX-512 states (opmask, upper halves, upper registers),
        // or the instructions fault even though the CPU has them.
        features.avx512 = avx512 && osxsave && (xgetbv0() & 0xE6) == 0xE6;
    }
    return features;
}
#else
nibble_cpu_features nibble_detect_cpu_features(void) {
    nibble_cpu_features features = {0, 0, 0, 0};
    return features;
}
#endif
