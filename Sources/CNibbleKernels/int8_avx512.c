// AVX-512 int8 matmul: the AVX2 kernel's arithmetic (both operands sign-extended to int16, `vpmaddwd` adding
// pairs of products into int32 lanes, exact for every input) on 512-bit registers, so each instruction covers
// twice the weights. Integer sums do not depend on order: results equal the other paths bit for bit.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdlib.h>
#include "kernels_internal.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/// Thirty-two int8 values at `p` sign-extended to int16.
AVX512 INLINE __m512i widen32(const int8_t *p) {
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)p));
}

/// acc + Σ over pairs of a·b, in int32 lanes.
AVX512 INLINE __m512i madd(__m512i acc, __m512i a, __m512i b) {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
}

/// Register tile: R input rows (from row r) × C weight rows (from row o), R·C accumulators over the row.
AVX512 INLINE void tile(const int8_t *a, size_t lda, const int8_t *b, size_t n, const nibble_i8_sink *s,
                        size_t r, size_t o, const int R, const int C) {
    __m512i acc[4][4];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) acc[i][j] = _mm512_setzero_si512();
    const int8_t *ar = a + r * lda, *bo = b + o * n;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i bv[4];
        for (int j = 0; j < C; j++) bv[j] = widen32(bo + j * n + i);
        for (int q = 0; q < R; q++) {
            __m512i av = widen32(ar + q * lda + i);
            for (int j = 0; j < C; j++) acc[q][j] = madd(acc[q][j], av, bv[j]);
        }
    }
    for (int q = 0; q < R; q++)
        for (int j = 0; j < C; j++)
            nibble_i8_put(s, r + q, o + j,
                          (uint32_t)_mm512_reduce_add_epi32(acc[q][j]) + nibble_i8_tail_dot(ar + q * lda, bo + j * n, i, n));
}

/// Decode path: one weight row at a time against the input row pre-widened to int16 (xw), read strictly in
/// order with each 64-byte line requested ahead (see `NIBBLE_PREFETCH_BYTES`).
AVX512 INLINE void row1(const int16_t *xw, const int8_t *b, size_t n, size_t o, const nibble_i8_sink *s,
                        const int8_t *a) {
    const int8_t *bo = b + o * n;
    __m512i p0 = _mm512_setzero_si512(), p1 = p0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        _mm_prefetch((const char *)(bo + i) + NIBBLE_PREFETCH_BYTES, _MM_HINT_T0);
        p0 = madd(p0, _mm512_loadu_si512((const void *)(xw + i)), widen32(bo + i));
        p1 = madd(p1, _mm512_loadu_si512((const void *)(xw + i + 32)), widen32(bo + i + 32));
    }
    for (; i + 32 <= n; i += 32) p0 = madd(p0, _mm512_loadu_si512((const void *)(xw + i)), widen32(bo + i));
    uint32_t sum = (uint32_t)_mm512_reduce_add_epi32(_mm512_add_epi32(p0, p1));
    nibble_i8_put(s, 0, o, sum + nibble_i8_tail_dot(a, bo, i, n));
}

AVX512 void nibble_matmul_i8_avx512(const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n,
                                    size_t o_begin, size_t o_end, const float *row_scale, const float *col_scale,
                                    float k, int32_t *yi, float *yf, size_t ldy) {
    const nibble_i8_sink s = {row_scale, col_scale, k, yi, yf, ldy};
    if (rows == 1) {
        int16_t stack[4096];
        int16_t *xw = n <= 4096 ? stack : malloc(n * sizeof(int16_t));  // (n) the input row as int16
        if (!xw) abort();
        size_t i = 0;
        for (; i + 32 <= n; i += 32) _mm512_storeu_si512((void *)(xw + i), widen32(a + i));
        for (; i < n; i++) xw[i] = a[i];
        for (size_t o = o_begin; o < o_end; o++) row1(xw, b, n, o, &s, a);
        if (xw != stack) free(xw);
        return;
    }
    // 4 × 4: sixteen accumulators, four weight vectors and an input vector fit the 32 registers.
    NIBBLE_FOR_EACH_TILE(rows, o_begin, o_end, 4, 4, tile, a, lda, b, n, &s)
}
#endif
