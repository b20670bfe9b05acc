#include "kernels_internal.h"

nibble_impl nibble_best_impl(void) {
    // Racing first calls compute the same value, so a plain static is enough.
    static int cached = -1;
    if (cached < 0) {
        nibble_cpu_features f = nibble_detect_cpu_features();
        int avx2 = f.avx2 && f.fma && f.f16c;
        cached = avx2 && f.avx512 ? NIBBLE_IMPL_AVX512 : avx2 ? NIBBLE_IMPL_AVX2 : NIBBLE_IMPL_SCALAR;
    }
    return (nibble_impl)cached;
}

void nibble_matmul(nibble_impl impl, nibble_weight_format format, const float *x, size_t rows, size_t ldx,
                   const void *w, size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl == NIBBLE_IMPL_AVX512) {
        nibble_matmul_avx512(format, x, rows, ldx, w, n, o_begin, o_end, y, ldy);
        return;
    }
    if (impl >= NIBBLE_IMPL_AVX2) {
        nibble_matmul_avx2(format, x, rows, ldx, w, n, o_begin, o_end, y, ldy);
        return;
    }
#endif
    (void)impl;
    nibble_matmul_scalar(format, x, rows, ldx, w, n, o_begin, o_end, y, ldy);
}

float nibble_dot_f32(nibble_impl impl, const float *a, const float *b, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) return nibble_dot_f32_avx2(a, b, n);
#endif
    (void)impl;
    return nibble_dot_f32_scalar(a, b, n);
}

void nibble_axpy_f32(nibble_impl impl, float *y, float alpha, const float *x, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        nibble_axpy_f32_avx2(y, alpha, x, n);
        return;
    }
#endif
    (void)impl;
    nibble_axpy_f32_scalar(y, alpha, x, n);
}

void nibble_f16_to_f32(nibble_impl impl, const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        nibble_f16_to_f32_avx2(src, dst, n);
        return;
    }
#endif
    (void)impl;
    for (size_t i = 0; i < n; i++) dst[i] = nibble_half_to_float(src[i]);
}

void nibble_round_f32(nibble_impl impl, nibble_round_format format, const float *src, float *dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        nibble_round_f32_avx2(format, src, dst, n);
        return;
    }
#endif
    (void)impl;
    for (size_t i = 0; i < n; i++) dst[i] = nibble_round(format, src[i]);
}

void nibble_matmul_i8(nibble_impl impl, const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n,
                      size_t o_begin, size_t o_end, int32_t *y, size_t ldy, int b_symmetric) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl == NIBBLE_IMPL_AVX512) {
        nibble_matmul_i8_avx512(a, rows, lda, b, n, o_begin, o_end, NULL, NULL, 0, y, NULL, ldy);
        return;
    }
    if (impl >= NIBBLE_IMPL_AVX2) {
        nibble_matmul_i8_avx2(a, rows, lda, b, n, o_begin, o_end, NULL, NULL, 0, y, NULL, ldy, b_symmetric);
        return;
    }
#endif
    (void)impl;
    (void)b_symmetric;
    nibble_matmul_i8_scalar(a, rows, lda, b, n, o_begin, o_end, NULL, NULL, 0, y, NULL, ldy);
}

void nibble_matmul_i8_scaled(nibble_impl impl, const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n,
                             size_t o_begin, size_t o_end, const float *row_scale, const float *col_scale, float k,
                             float *y, size_t ldy, int b_symmetric) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl == NIBBLE_IMPL_AVX512) {
        nibble_matmul_i8_avx512(a, rows, lda, b, n, o_begin, o_end, row_scale, col_scale, k, NULL, y, ldy);
        return;
    }
    if (impl >= NIBBLE_IMPL_AVX2) {
        nibble_matmul_i8_avx2(a, rows, lda, b, n, o_begin, o_end, row_scale, col_scale, k, NULL, y, ldy, b_symmetric);
        return;
    }
#endif
    (void)impl;
    (void)b_symmetric;
    nibble_matmul_i8_scalar(a, rows, lda, b, n, o_begin, o_end, row_scale, col_scale, k, NULL, y, ldy);
}

/// Which 4-bit input layout `impl` runs for rows of n in blocks of blocksize.
typedef enum { FOURBIT_AS_IS, FOURBIT_AVX2, FOURBIT_AVX512 } fourbit_layout;

static fourbit_layout fourbit_layout_for(nibble_impl impl, size_t n, size_t blocksize) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl == NIBBLE_IMPL_AVX512 && nibble_4bit_avx512_handles(n, blocksize)) return FOURBIT_AVX512;
    if (impl >= NIBBLE_IMPL_AVX2 && nibble_4bit_avx2_permutes(n, blocksize)) return FOURBIT_AVX2;
#endif
    (void)impl;
    (void)n;
    (void)blocksize;
    return FOURBIT_AS_IS;
}

size_t nibble_4bit_input_floats(nibble_impl impl, size_t n, size_t blocksize, nibble_round_format compute, size_t rows) {
    if (fourbit_layout_for(impl, n, blocksize) == FOURBIT_AS_IS && compute == NIBBLE_ROUND_F32) return 0;
    return rows * n;
}

void nibble_4bit_prepare_input(nibble_impl impl, size_t n, size_t blocksize, nibble_round_format compute,
                               const float *x, size_t rows, size_t ldx, float *xp) {
    switch (fourbit_layout_for(impl, n, blocksize)) {
#if defined(__x86_64__) || defined(__i386__)
    case FOURBIT_AVX512: nibble_4bit_prepare_avx512(compute, x, rows, ldx, n, xp); return;
    case FOURBIT_AVX2: nibble_4bit_prepare_avx2(compute, x, rows, ldx, n, xp); return;
#endif
    default:
        for (size_t r = 0; r < rows; r++) nibble_round_f32(impl, compute, x + r * ldx, xp + r * n, n);
    }
}

void nibble_matmul_4bit(nibble_impl impl, const nibble_4bit_weight *w, const float *xp, size_t rows, size_t o_begin,
                        size_t o_end, float *y, size_t ldy) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl == NIBBLE_IMPL_AVX512 && nibble_4bit_avx512_handles(w->n, w->blocksize)) {
        nibble_matmul_4bit_avx512(w, xp, rows, o_begin, o_end, y, ldy);
        return;
    }
    if (impl >= NIBBLE_IMPL_AVX2) {
        nibble_matmul_4bit_avx2(w, xp, rows, o_begin, o_end, y, ldy);
        return;
    }
#endif
    (void)impl;
    nibble_matmul_4bit_scalar(w, xp, rows, w->n, o_begin, o_end, y, ldy);
}

void nibble_quantize_i8_rows(nibble_impl impl, const float *x, size_t rows, size_t n, float threshold, int8_t *q,
                             float *absmax) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        nibble_quantize_i8_rows_avx2(x, rows, n, threshold, q, absmax);
        return;
    }
#endif
    (void)impl;
    nibble_quantize_i8_rows_scalar(x, rows, n, threshold, q, absmax);
}
