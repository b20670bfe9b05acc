// AVX2 int8 matmul, two exact ways:
// - any weight: both operands sign-extended to int16 and multiplied with vpmaddwd, which adds pairs of
//   products into int32 lanes (16 products per instruction);
// - a weight without −128 (every weight Nibble quantizes: codes are clamped to ±127): vpmaddubsw on |a| (unsigned)
//   and b with a's sign, 32 products per instruction. A pair of products is at most 2·128·127 = 32512 < 32767,
//   so the int16 pair sums never saturate; vpmaddwd by ones then widens them to int32.
// Integer sums do not depend on order: both equal the portable kernel's bit for bit.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include "kernels_internal.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/// Sixteen int8 values at `p` sign-extended to int16.
AVX2 INLINE __m256i widen16(const int8_t *p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p)); }

/// acc + Σ over pairs of a·b, in int32 lanes.
AVX2 INLINE __m256i madd(__m256i acc, __m256i a, __m256i b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }

AVX2 INLINE uint32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(s);
}

/// Lane t of the result = the sum of v[t]'s eight lanes. Integer sums: any order gives the same bits.
AVX2 INLINE __m256i hsum8_i32(const __m256i v[8]) {
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    __m256i c = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    // a holds the partial sums of v[0..3] in each 128-bit half, c those of v[4..7].
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, c, 0x20), _mm256_permute2x128_si256(a, c, 0x31));
}

/// acc + Σ of 32 products |a|·(b with a's sign) = acc + Σ a·b, exact when b holds no −128 (see the top).
AVX2 INLINE __m256i dot32(__m256i acc, __m256i abs_a, __m256i a, __m256i b) {
    __m256i pairs = _mm256_maddubs_epi16(abs_a, _mm256_sign_epi8(b, a));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

/// Asks for the weight bytes the next tile of weight rows (the C rows after this tile's C, contiguous) will read
/// at the step that reads `step` bytes from each of this tile's rows at column i: one linear stream kept one tile
/// ahead, as the decode path does. The first tile of input rows asks; the others find the rows in cache. Without
/// it the several-row tiles waited on memory: 1.4–2× slower at 2–8 input rows (SmolLM2 and TinyLlama shapes).
AVX2 INLINE void prefetch_next_tile(const int8_t *bo, size_t n, size_t i, size_t step, const int C) {
    const char *next = (const char *)(bo + C * n + C * i);
    for (size_t line = 0; line < (size_t)C * step; line += 64) _mm_prefetch(next + line, _MM_HINT_T0);
}

/// `tile` for a weight without −128: 32 columns per step with vpmaddubsw.
AVX2 INLINE void tile_u8(const int8_t *a, size_t lda, const int8_t *b, size_t n, const nibble_i8_sink *s, size_t r,
                         size_t o, const int R, const int C) {
    __m256i acc[8];  // acc[q * C + j]: input row r + q × weight row o + j
    for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_si256();
    const int8_t *ar = a + r * lda, *bo = b + o * n;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        if (r == 0) prefetch_next_tile(bo, n, i, 32, C);
        __m256i bv[4];
        for (int j = 0; j < C; j++) bv[j] = _mm256_loadu_si256((const __m256i *)(bo + j * n + i));
        for (int q = 0; q < R; q++) {
            __m256i av = _mm256_loadu_si256((const __m256i *)(ar + q * lda + i));
            __m256i abs_a = _mm256_abs_epi8(av);
            for (int j = 0; j < C; j++) acc[q * C + j] = dot32(acc[q * C + j], abs_a, av, bv[j]);
        }
    }
    uint32_t sums[8];  // (R · C) ≤ 8 totals; the unused accumulators are zero
    _mm256_storeu_si256((__m256i *)sums, hsum8_i32(acc));
    for (int q = 0; q < R; q++)
        for (int j = 0; j < C; j++)
            nibble_i8_put(s, r + q, o + j, sums[q * C + j] + nibble_i8_tail_dot(ar + q * lda, bo + j * n, i, n));
}

/// `row1` for a weight without −128: `abs_a` is |a| computed once per call.
AVX2 INLINE void row1_u8(const int8_t *a, const int8_t *abs_a, const int8_t *b, size_t n, size_t o,
                         const nibble_i8_sink *s) {
    const int8_t *bo = b + o * n;
    __m256i p0 = _mm256_setzero_si256(), p1 = p0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        _mm_prefetch((const char *)(bo + i) + NIBBLE_PREFETCH_BYTES, _MM_HINT_T0);
        p0 = dot32(p0, _mm256_loadu_si256((const __m256i *)(abs_a + i)), _mm256_loadu_si256((const __m256i *)(a + i)),
                   _mm256_loadu_si256((const __m256i *)(bo + i)));
        p1 = dot32(p1, _mm256_loadu_si256((const __m256i *)(abs_a + i + 32)),
                   _mm256_loadu_si256((const __m256i *)(a + i + 32)), _mm256_loadu_si256((const __m256i *)(bo + i + 32)));
    }
    for (; i + 32 <= n; i += 32)
        p0 = dot32(p0, _mm256_loadu_si256((const __m256i *)(abs_a + i)), _mm256_loadu_si256((const __m256i *)(a + i)),
                   _mm256_loadu_si256((const __m256i *)(bo + i)));
    nibble_i8_put(s, 0, o, hsum_i32(_mm256_add_epi32(p0, p1)) + nibble_i8_tail_dot(a, bo, i, n));
}

/// Register tile: R input rows (from row r) × C weight rows (from row o), R·C accumulators over the row.
AVX2 INLINE void tile(const int8_t *a, size_t lda, const int8_t *b, size_t n, const nibble_i8_sink *s, size_t r,
                      size_t o, const int R, const int C) {
    __m256i acc[4][4];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) acc[i][j] = _mm256_setzero_si256();
    const int8_t *ar = a + r * lda, *bo = b + o * n;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        if (r == 0) prefetch_next_tile(bo, n, i, 16, C);
        __m256i bv[4];
        for (int j = 0; j < C; j++) bv[j] = widen16(bo + j * n + i);
        for (int q = 0; q < R; q++) {
            __m256i av = widen16(ar + q * lda + i);
            for (int j = 0; j < C; j++) acc[q][j] = madd(acc[q][j], av, bv[j]);
        }
    }
    for (int q = 0; q < R; q++)
        for (int j = 0; j < C; j++)
            nibble_i8_put(s, r + q, o + j, hsum_i32(acc[q][j]) + nibble_i8_tail_dot(ar + q * lda, bo + j * n, i, n));
}

/// Decode path: one weight row at a time against the input row pre-widened to int16 (xw), so the weights are
/// read strictly in order. Interleaving several short rows (2 KiB at n = 2048) left the hardware prefetcher
/// too little of each stream to lock on to, and halved the read rate.
AVX2 INLINE void row1(const int16_t *xw, const int8_t *b, size_t n, size_t o, const nibble_i8_sink *s, const int8_t *a) {
    const int8_t *bo = b + o * n;
    __m256i p0 = _mm256_setzero_si256(), p1 = p0, p2 = p0, p3 = p0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        _mm_prefetch((const char *)(bo + i) + NIBBLE_PREFETCH_BYTES, _MM_HINT_T0);
        p0 = madd(p0, _mm256_loadu_si256((const __m256i *)(xw + i)), widen16(bo + i));
        p1 = madd(p1, _mm256_loadu_si256((const __m256i *)(xw + i + 16)), widen16(bo + i + 16));
        p2 = madd(p2, _mm256_loadu_si256((const __m256i *)(xw + i + 32)), widen16(bo + i + 32));
        p3 = madd(p3, _mm256_loadu_si256((const __m256i *)(xw + i + 48)), widen16(bo + i + 48));
    }
    for (; i + 16 <= n; i += 16) p0 = madd(p0, _mm256_loadu_si256((const __m256i *)(xw + i)), widen16(bo + i));
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3));
    nibble_i8_put(s, 0, o, hsum_i32(sum) + nibble_i8_tail_dot(a, bo, i, n));
}

AVX2 void nibble_matmul_i8_avx2(const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n, size_t o_begin,
                                size_t o_end, const float *row_scale, const float *col_scale, float k, int32_t *yi,
                                float *yf, size_t ldy, int b_symmetric) {
    const nibble_i8_sink s = {row_scale, col_scale, k, yi, yf, ldy};
    if (b_symmetric && rows == 1) {
        int8_t stack[4096];
        int8_t *abs_a = n <= 4096 ? stack : malloc(n);  // (n) |a|, as unsigned bytes (|−128| = 128)
        if (!abs_a) abort();
        size_t i = 0;
        for (; i + 32 <= n; i += 32)
            _mm256_storeu_si256((__m256i *)(abs_a + i), _mm256_abs_epi8(_mm256_loadu_si256((const __m256i *)(a + i))));
        for (; i < n; i++) abs_a[i] = (int8_t)(a[i] < 0 ? -a[i] : a[i]);
        for (size_t o = o_begin; o < o_end; o++) row1_u8(a, abs_a, b, n, o, &s);
        if (abs_a != stack) free(abs_a);
        return;
    }
    if (b_symmetric) {
        // Groups of 4 input rows take 4 × 2 tiles (eight accumulators, two weight vectors, the input, its absolute
        // value and a temporary); 2 or 3 left over take 2 × 4, rather than one row at a time: a 2-row batch ran
        // at two thirds of the 4-row rate in 1 × 2 tiles, whose fixed cost (sums, prefetch, stores) buys a
        // quarter of the products.
        for (size_t block = o_begin; block < o_end; block += NIBBLE_WEIGHT_BLOCK) {
            size_t block_end = block + NIBBLE_WEIGHT_BLOCK < o_end ? block + NIBBLE_WEIGHT_BLOCK : o_end;
            size_t r = 0, o;
            for (; r + 4 <= rows; r += 4) {
                for (o = block; o + 2 <= block_end; o += 2) tile_u8(a, lda, b, n, &s, r, o, 4, 2);
                for (; o < block_end; o++) tile_u8(a, lda, b, n, &s, r, o, 4, 1);
            }
            for (; r + 2 <= rows; r += 2) {
                for (o = block; o + 4 <= block_end; o += 4) tile_u8(a, lda, b, n, &s, r, o, 2, 4);
                for (; o < block_end; o++) tile_u8(a, lda, b, n, &s, r, o, 2, 1);
            }
            for (; r < rows; r++) {
                for (o = block; o + 2 <= block_end; o += 2) tile_u8(a, lda, b, n, &s, r, o, 1, 2);
                for (; o < block_end; o++) tile_u8(a, lda, b, n, &s, r, o, 1, 1);
            }
        }
        return;
    }
    if (rows == 1) {
        int16_t stack[4096];
        int16_t *xw = n <= 4096 ? stack : malloc(n * sizeof(int16_t));  // (n) the input row as int16
        if (!xw) abort();
        size_t i = 0;
        for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(xw + i), widen16(a + i));
        for (; i < n; i++) xw[i] = a[i];
        for (size_t o = o_begin; o < o_end; o++) row1(xw, b, n, o, &s, a);
        if (xw != stack) free(xw);
        return;
    }
    // 4 × 2: eight accumulators plus a product temporary fit the 16 registers (4 × 3 spilled).
    NIBBLE_FOR_EACH_TILE(rows, o_begin, o_end, 4, 2, tile, a, lda, b, n, &s)
}

/// Thirty-two quantized codes from four vectors of whole numbers already within ±127: packed to int8 (saturating,
/// which changes nothing in that range) and put back in order (the packs interleave 128-bit lanes).
AVX2 INLINE __m256i pack32(__m256 t0, __m256 t1, __m256 t2, __m256 t3) {
    __m256i w01 = _mm256_packs_epi32(_mm256_cvtps_epi32(t0), _mm256_cvtps_epi32(t1));
    __m256i w23 = _mm256_packs_epi32(_mm256_cvtps_epi32(t2), _mm256_cvtps_epi32(t3));
    return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w01, w23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/// round_half_even(v · scale) as a whole number in ±127, 0 for NaN: the scalar body's steps, lane by lane.
AVX2 INLINE __m256 quantize8(__m256 v, __m256 scale) {
    __m256 t = _mm256_round_ps(_mm256_mul_ps(v, scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    t = _mm256_and_ps(t, _mm256_cmp_ps(t, t, _CMP_ORD_Q));  // NaN → +0
    return _mm256_max_ps(_mm256_min_ps(t, _mm256_set1_ps(127)), _mm256_set1_ps(-127));
}

/// `nibble_i8_prepare` in two vector passes over each row (the portable one makes five, its absmax a scalar
/// chain): the first rounds to fp16, stores xh, takes the row's absmax of its own non-outlier entries and marks
/// the outlier columns; the second quantizes xh with every marked column at 0. For one row the marked columns
/// are the row's own outliers (what the quantizer zeroes anyway); for several, zeroing all marked columns is
/// the portable path's final step. Every value is the scalar body's bit for bit: max over non-NaN magnitudes
/// does not depend on order, and the products, rounding and clamps are the same operations per lane.
AVX2 size_t nibble_i8_prepare_avx2(const float *x, size_t rows, size_t n, float threshold, float *xh, int8_t *q,
                                   float *absmax, int32_t *cols) {
    const int split = threshold > 0;
    const __m256 limit = _mm256_set1_ps(threshold);
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (size_t c = 0; c < n; c++) cols[c] = 0;  // −1 (all bits) marks an outlier column until compacted
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *hr = xh + r * n;
        __m256 am8 = _mm256_setzero_ps();
        size_t c = 0;
        for (; c + 8 <= n; c += 8) {
            __m256 v = _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(xr + c), _MM_FROUND_TO_NEAREST_INT));
            _mm256_storeu_ps(hr + c, v);
            __m256 m = _mm256_and_ps(v, magnitude);
            if (split) {
                __m256 outlier = _mm256_cmp_ps(m, limit, _CMP_GE_OQ);
                __m256i *flags = (__m256i *)(cols + c);
                _mm256_storeu_si256(flags, _mm256_or_si256(_mm256_loadu_si256(flags), _mm256_castps_si256(outlier)));
                m = _mm256_andnot_ps(outlier, m);
            }
            am8 = _mm256_max_ps(m, am8);  // m > am8 ? m : am8; a NaN m keeps am8, as the scalar body does
        }
        __m128 am4 = _mm_max_ps(_mm256_castps256_ps128(am8), _mm256_extractf128_ps(am8, 1));
        am4 = _mm_max_ps(am4, _mm_movehl_ps(am4, am4));
        am4 = _mm_max_ps(am4, _mm_shuffle_ps(am4, am4, 1));
        float am = _mm_cvtss_f32(am4);
        for (; c < n; c++) {
            float v = nibble_round(NIBBLE_ROUND_F16, xr[c]);
            hr[c] = v;
            if (split && fabsf(v) >= threshold) {
                cols[c] = -1;
                v = 0;
            }
            float m = fabsf(v);
            am = m >= am ? m : am;
        }
        absmax[r] = am;
    }
    for (size_t r = 0; r < rows; r++) {
        const float *hr = xh + r * n;
        int8_t *qr = q + r * n;
        const float s = (1 / absmax[r]) * 127;
        const __m256 scale = _mm256_set1_ps(s);
#define NIBBLE_MASKED(C) _mm256_andnot_ps(_mm256_loadu_ps((const float *)(cols + (C))), _mm256_loadu_ps(hr + (C)))
        size_t c = 0;
        for (; c + 32 <= n; c += 32) {
            __m256i codes = pack32(quantize8(NIBBLE_MASKED(c), scale), quantize8(NIBBLE_MASKED(c + 8), scale),
                                   quantize8(NIBBLE_MASKED(c + 16), scale), quantize8(NIBBLE_MASKED(c + 24), scale));
            _mm256_storeu_si256((__m256i *)(qr + c), codes);
        }
#undef NIBBLE_MASKED
        for (; c < n; c++) {
            float v = cols[c] ? 0 : hr[c];
            float t = rintf(v * s);
            qr[c] = t != t ? 0 : (int8_t)(t > 127 ? 127 : t < -127 ? -127 : t);
        }
    }
    size_t count = 0;
    for (size_t c = 0; c < n; c++)
        if (cols[c]) cols[count++] = (int32_t)c;
    return count;
}

/// `nibble_i8_add_outliers` eight outputs at a time: the eight weights of one outlier column are one vector
/// (gathered down the column), so each input row's sums for eight outputs take one multiply and one add per
/// column instead of eight of each. Every (row, output) still sums its columns in order from zero with the
/// product and the sum rounded apart (no fused multiply-add), then adds to y: bit for bit the portable result.
AVX2 void nibble_i8_add_outliers_avx2(const float *xh, size_t rows, size_t n, const int32_t *cols, size_t count,
                                      const int8_t *cb, const float *scb, size_t o_begin, size_t o_end, float *y,
                                      size_t ldy) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    if (count == 0 || o_begin >= o_end) return;
    float stack[4096];
    size_t need = count * rows + 8 * rows;
    float *buffer = nibble_scratch_floats(stack, 4096, need);
    float *xt = buffer;                 // (rows, count) each row's outlier inputs, in column order
    float *sums = xt + count * rows;    // (rows, 8) the sums of eight outputs for every row
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < count; j++) xt[r * count + j] = xh[r * n + (size_t)cols[j]];
    const __m256 inv127 = _mm256_set1_ps(1.0f / 127.0f);
    size_t o = o_begin;
    for (; o + 8 <= o_end; o += 8) {
        const int8_t *block = cb + o * n;
        const __m256 scale = _mm256_loadu_ps(scb + o);
        for (size_t i = 0; i < 8 * rows; i++) sums[i] = 0;
        for (size_t j = 0; j < count; j++) {
            const int8_t *column = block + (size_t)cols[j];
            int8_t codes[8];  // (8) the column's codes of outputs o ..< o + 8
            for (int t = 0; t < 8; t++) codes[t] = column[(size_t)t * n];
            long long packed;
            memcpy(&packed, codes, sizeof packed);
            __m256 w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(packed)));
            w = _mm256_mul_ps(_mm256_mul_ps(w, scale), inv127);
            for (size_t r = 0; r < rows; r++) {
                __m256 product = _mm256_mul_ps(_mm256_set1_ps(xt[r * count + j]), w);
                _mm256_storeu_ps(sums + 8 * r, _mm256_add_ps(_mm256_loadu_ps(sums + 8 * r), product));
            }
        }
        for (size_t r = 0; r < rows; r++) {
            float *yr = y + r * ldy + o;
            _mm256_storeu_ps(yr, _mm256_add_ps(_mm256_loadu_ps(yr), _mm256_loadu_ps(sums + 8 * r)));
        }
    }
    nibble_release_scratch(buffer, stack);
    // The last outputs (fewer than eight) one by one, as the portable kernel does.
    if (o < o_end) nibble_i8_add_outliers_scalar(xh, rows, n, cols, count, cb, scb, o, o_end, y, ldy);
}

AVX2 void nibble_quantize_i8_rows_avx2(const float *x, size_t rows, size_t n, float threshold, int8_t *q,
                                       float *absmax) {
    // Built for AVX2, rintf becomes `vroundps` and the loops vectorize.
    NIBBLE_QUANTIZE_I8_ROWS_BODY(x, rows, n, threshold, q, absmax, rintf)
}
#endif
