#include "kernels_internal.h"

nibble_impl nibble_best_impl(void) {
    // Racing first calls compute the same value, so a plain static is enough.
    static int cached = -1;
    if (cached < 0) {
        nibble_cpu_features f = nibble_detect_cpu_features();
        cached = (f.avx2 && f.fma && f.f16c) ? NIBBLE_IMPL_AVX2 : NIBBLE_IMPL_SCALAR;
    }
    return (nibble_impl)cached;
}

void nibble_matmul(nibble_impl impl, nibble_weight_format format, const float *x, size_t rows, size_t ldx,
                   const void *w, size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl == NIBBLE_IMPL_AVX2) {
        nibble_matmul_avx2(format, x, rows, ldx, w, n, o_begin, o_end, y, ldy);
        return;
    }
#endif
    (void)impl;
    nibble_matmul_scalar(format, x, rows, ldx, w, n, o_begin, o_end, y, ldy);
}

float nibble_dot_f32(nibble_impl impl, const float *a, const float *b, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl == NIBBLE_IMPL_AVX2) return nibble_dot_f32_avx2(a, b, n);
#endif
    (void)impl;
    return nibble_dot_f32_scalar(a, b, n);
}

void nibble_axpy_f32(nibble_impl impl, float *y, float alpha, const float *x, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl == NIBBLE_IMPL_AVX2) {
        nibble_axpy_f32_avx2(y, alpha, x, n);
        return;
    }
#endif
    (void)impl;
    nibble_axpy_f32_scalar(y, alpha, x, n);
}

void nibble_f16_to_f32(nibble_impl impl, const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl == NIBBLE_IMPL_AVX2) {
        nibble_f16_to_f32_avx2(src, dst, n);
        return;
    }
#endif
    (void)impl;
    for (size_t i = 0; i < n; i++) dst[i] = nibble_half_to_float(src[i]);
}
