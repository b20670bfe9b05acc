// AVX-512 4-bit matmul. `vpermps` on a 512-bit register looks up 16 floats by the low four bits of each
// 32-bit lane and ignores the rest, which is exactly one table of 16 code values: a 64-byte load holds 128
// codes, and each of eight shifts by 4 brings the next nibble of every lane into the index bits. One
// shuffle then yields 16 exact float32 weights — about a third of the work of the AVX2 byte-plane decode,
// enough to keep up with memory on one core.
//
// Lane j of a 64-byte chunk covers bytes 4j … 4j + 3, i.e. elements 8j … 8j + 7. Shifting by 4s gives, in
// every lane, element 8j + 2⌊s/2⌋ + (s even ? 1 : 0) (little-endian bytes; the high nibble is the earlier
// element). The input rows are permuted into that order (and rounded to the compute format) once per product
// by `nibble_4bit_prepare_avx512`, so the dot products need no shuffles.
//
// Fast layout only: rows of a multiple of 128 elements and a block size of 64 or a multiple of 128 (every
// bitsandbytes checkpoint of a real model); other shapes use the AVX2 kernel. With 64-element blocks, lanes
// 0–7 of a chunk belong to one block and lanes 8–15 to the next.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdlib.h>
#include "kernels_internal.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/// Elements per chunk: one 64-byte load of codes.
#define CHUNK 128

int nibble_4bit_avx512_handles(size_t n, size_t blocksize) {
    return n > 0 && n % CHUNK == 0 && (blocksize == 64 || blocksize % CHUNK == 0);
}

/// Sixteen values rounded to bfloat16 (nearest even; NaN kept quiet) and widened back.
AVX512 INLINE __m512 round16_bf16(__m512 v) {
    __m512i bits = _mm512_castps_si512(v);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF)));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    rounded = _mm512_mask_or_epi32(rounded, nan, bits, _mm512_set1_epi32(0x00400000));
    return _mm512_castsi512_ps(_mm512_and_si512(rounded, _mm512_set1_epi32((int)0xFFFF0000u)));
}

/// Sixteen values rounded to `format` and widened back.
AVX512 INLINE __m512 round16(nibble_round_format format, __m512 v) {
    switch (format) {
    case NIBBLE_ROUND_F16: return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    case NIBBLE_ROUND_BF16: return round16_bf16(v);
    default: return v;
    }
}

/// dst `(rows, n)` = x `(rows, ldx)` rounded to `format`, each chunk of 128 columns in decode order (see the top
/// of the file): output vector s of a chunk gathers, from lane j, element 8j + 2⌊s/2⌋ + (s even ? 1 : 0).
AVX512 void nibble_4bit_prepare_avx512(nibble_round_format format, const float *x, size_t rows, size_t ldx, size_t n,
                                       float *dst) {
    const __m512i lanes = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float *dr = dst + r * n;
        for (size_t c = 0; c < n; c += CHUNK)
            for (int s = 0; s < 8; s++) {
                __m512i index = _mm512_add_epi32(lanes, _mm512_set1_epi32(2 * (s / 2) + (s % 2 == 0)));
                _mm512_storeu_ps(dr + c + 16 * s, round16(format, _mm512_i32gather_ps(index, xr + c, 4)));
            }
    }
}

/// The per-lane block scale of each chunk, walking the flattened elements from `begin` (a chunk boundary).
typedef struct {
    scale_cursor cursor;
    size_t blocksize;
    size_t left;    // chunks left in the current block (block size ≥ 128)
    __m512 scale;   // (16) the current block's absmax in every lane, or its rounded table (`chunk_tables_next`)
} chunk_scales;

AVX512 INLINE chunk_scales chunk_scales_at(const nibble_4bit_weight *w, size_t begin) {
    chunk_scales c = {scale_cursor_at(w, begin / w->blocksize), w->blocksize, 0, _mm512_setzero_ps()};
    return c;
}

/// Absmax of each lane of the chunk starting at element `begin_of_chunk`; called once per chunk, in order.
AVX512 INLINE __m512 chunk_scales_next(const nibble_4bit_weight *w, chunk_scales *c, size_t begin_of_chunk) {
    if (c->blocksize == 64) {
        float first = scale_cursor_next(w, &c->cursor);
        float second = scale_cursor_next(w, &c->cursor);
        return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(first), _mm512_set1_ps(second));
    }
    if (c->left == 0) {
        c->scale = _mm512_set1_ps(scale_cursor_next(w, &c->cursor));
        // Chunks of this block from here on (a row may start inside a block).
        c->left = (c->blocksize - begin_of_chunk % c->blocksize) / CHUNK;
    }
    c->left--;
    return c->scale;
}

/// One weight row's dot product with xp (decode order) when weights stay float32: Σ_chunk scale · Σ code·x.
/// Only the rounding of the sum differs from scaling each weight first.
AVX512 INLINE float dot_f32(const nibble_4bit_weight *w, size_t begin, size_t end, const float *xp, __m512 code) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    chunk_scales scales = chunk_scales_at(w, begin);
    for (size_t e = begin; e < end; e += CHUNK) {
        _mm_prefetch((const char *)(w->packed + e / 2) + NIBBLE_PREFETCH_BYTES, _MM_HINT_T0);
        __m512i b = _mm512_loadu_si512((const void *)(w->packed + e / 2));
        const float *xe = xp + (e - begin);
        __m512 s0 = _mm512_mul_ps(_mm512_permutexvar_ps(b, code), _mm512_loadu_ps(xe));
        __m512 s1 = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), code), _mm512_loadu_ps(xe + 16));
        s0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 8), code), _mm512_loadu_ps(xe + 32), s0);
        s1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 12), code), _mm512_loadu_ps(xe + 48), s1);
        s0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 16), code), _mm512_loadu_ps(xe + 64), s0);
        s1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 20), code), _mm512_loadu_ps(xe + 80), s1);
        s0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 24), code), _mm512_loadu_ps(xe + 96), s0);
        s1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 28), code), _mm512_loadu_ps(xe + 112), s1);
        __m512 scale = chunk_scales_next(w, &scales, e);
        // Two accumulators so consecutive chunks do not wait on each other's multiply-add.
        if (((e - begin) / CHUNK) & 1) acc1 = _mm512_fmadd_ps(_mm512_add_ps(s0, s1), scale, acc1);
        else acc0 = _mm512_fmadd_ps(_mm512_add_ps(s0, s1), scale, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/// The two tables of a chunk when weights are rounded to the compute format: code · absmax rounded, for the
/// block of lanes 0–7 (lo) and of lanes 8–15 (hi; the same block unless blocks are 64 elements).
typedef struct {
    __m512 lo, hi;
} chunk_tables;

AVX512 INLINE chunk_tables chunk_tables_next(const nibble_4bit_weight *w, chunk_scales *c, size_t e, __m512 code) {
    chunk_tables t;
    if (c->blocksize == 64) {
        t.lo = round16(w->compute, _mm512_mul_ps(code, _mm512_set1_ps(scale_cursor_next(w, &c->cursor))));
        t.hi = round16(w->compute, _mm512_mul_ps(code, _mm512_set1_ps(scale_cursor_next(w, &c->cursor))));
    } else {
        if (c->left == 0) {
            c->scale = round16(w->compute, _mm512_mul_ps(code, _mm512_set1_ps(scale_cursor_next(w, &c->cursor))));
            c->left = (c->blocksize - e % c->blocksize) / CHUNK;
        }
        c->left--;
        t.lo = t.hi = c->scale;  // the scaled table of the current block
    }
    return t;
}

/// The 16 weights at shift `s` of chunk codes `b`: bit 4 of the index picks the hi table for lanes 8–15.
AVX512 INLINE __m512 lookup(__m512i b, int s, chunk_tables t) {
    const __m512i upper = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 16, 16, 16, 16, 16, 16, 16, 16);
    // (b >> s) & 15 | upper in one ternary-logic op: A & B | C with A = shifted, B = 15, C = upper.
    __m512i index = _mm512_ternarylogic_epi32(_mm512_srli_epi32(b, (unsigned)s), _mm512_set1_epi32(15), upper, 0xEA);
    return _mm512_permutex2var_ps(t.lo, index, t.hi);
}

/// Over the flattened elements [begin, end) (chunk boundaries) with weights rounded to the compute format:
/// with `store`, writes them dequantized in decode order to dst; otherwise returns their dot product with xp.
AVX512 INLINE float span_rounded(const nibble_4bit_weight *w, size_t begin, size_t end, const float *xp, float *dst,
                                 const int store, __m512 code) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    chunk_scales scales = chunk_scales_at(w, begin);
    for (size_t e = begin; e < end; e += CHUNK) {
        _mm_prefetch((const char *)(w->packed + e / 2) + NIBBLE_PREFETCH_BYTES, _MM_HINT_T0);
        __m512i b = _mm512_loadu_si512((const void *)(w->packed + e / 2));
        chunk_tables t = chunk_tables_next(w, &scales, e, code);
        size_t j = e - begin;
        for (int s = 0; s < 8; s += 2) {
            __m512 v0 = lookup(b, 4 * s, t), v1 = lookup(b, 4 * s + 4, t);
            if (store) {
                _mm512_storeu_ps(dst + j + 16 * s, v0);
                _mm512_storeu_ps(dst + j + 16 * s + 16, v1);
            } else {
                acc0 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(xp + j + 16 * s), acc0);
                acc1 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(xp + j + 16 * s + 16), acc1);
            }
        }
    }
    return store ? 0 : _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

AVX512 void nibble_matmul_4bit_avx512(const nibble_4bit_weight *w, const float *xp, size_t rows, size_t o_begin,
                                      size_t o_end, float *y, size_t ldy) {
    size_t n = w->n;
    const __m512 code = _mm512_loadu_ps(w->code);
    if (rows == 1) {
        // Decode fused with the dot product: each code is read once and never stored.
        for (size_t o = o_begin; o < o_end; o++)
            y[o] = w->compute == NIBBLE_ROUND_F32 ? dot_f32(w, o * n, (o + 1) * n, xp, code)
                                                  : span_rounded(w, o * n, (o + 1) * n, xp, NULL, 0, code);
        return;
    }
    // Several input rows: decode a block of weight rows once (it stays in cache) and run the float kernel on
    // the permuted input; the sums are the same products in another order.
    float *scratch = aligned_alloc(64, NIBBLE_WEIGHT_BLOCK * n * sizeof(float));  // (block rows, n)
    if (!scratch) abort();
    for (size_t block = o_begin; block < o_end; block += NIBBLE_WEIGHT_BLOCK) {
        size_t count = block + NIBBLE_WEIGHT_BLOCK < o_end ? NIBBLE_WEIGHT_BLOCK : o_end - block;
        span_rounded(w, block * n, (block + count) * n, NULL, scratch, 1, code);
        nibble_matmul_avx512(NIBBLE_WEIGHT_F32, xp, rows, n, scratch, n, 0, count, y + block, ldy);
    }
    free(scratch);
}
#endif
