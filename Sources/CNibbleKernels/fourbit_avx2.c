// AVX2 4-bit matmul. Per absmax block, the 16 code values are scaled and rounded to the compute format once,
// which gives exactly the per-element dequantization; decoding is then a table lookup.
//
// Fast layout (row length and block size multiples of 32, as in every real model): the block's 16 floats
// are split into four byte planes, and 32 codes (16 bytes) become 32 floats with one shift, four byte
// shuffles and eight unpacks — about five operations per eight weights. The unpacks leave each group of
// eight weights in the order 0 2 4 6 1 3 5 7, so the input rows are permuted the same way (and rounded to the
// compute format) once per product by `nibble_4bit_prepare_avx2`, and the dot products see matching pairs. With one input row and float32 compute, the planes of the unscaled
// code are built once per call and each block's partial sum is scaled instead (Σ absmax · Σ code · x): only
// the rounding of the sum changes, and a block costs one multiply-add instead of a table rebuild. Several input
// rows with float32 compute decode the unscaled code the same way and multiply each weight by its absmax (the
// one rounding a scaled table would give). With float16 or bfloat16 compute the per-block table needs only
// two byte planes (the half's two bytes; the upper two bytes of a bfloat16-rounded float), which halves the
// lookups and makes the table rebuild cheap: float16 weights are widened by the hardware in their own order
// (`decode32_f16`, with its own input permutation), bfloat16 ones by a shift (the lower of each pair) and a
// mask (the upper), again in an order of their own (`decode32_bf16`), which keeps half the widening off the
// shuffle ports. A bfloat16 table of a finite scale is rounded with integer adds alone (`bf16_planes_finite`).
// Both made one-row bfloat16 products 1.13–1.17x faster and four-row ones 1.25x (single-thread probe,
// TinyLlama shapes).
//
// Two to six input rows (a decode step of a few sequences) decode each group of 32 weights into registers
// and multiply it into every row's sums at once (`fused_rows`): no decoded copy is stored and read back, which
// made SmolLM2 nf4 decode steps of 2–6 sequences 1.1–1.2x faster. From seven rows on, a decoded block shared by
// the float tiles is as fast or faster (8 sequences: 7% faster on two threads). Prefill-sized inputs decode into
// panels instead (a block of weight rows × a slice of columns, at most 36 KiB) that register tiles multiply into
// every input row (`panels`).
//
// Other shapes: eight codes (four bytes) at a time, with one broadcast, two variable shifts (one brings each
// nibble's low three bits to the bottom as a permute index, the other its high bit to the sign as a blend
// mask), two permutes and a blend.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdlib.h>
#include "kernels_internal.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

AVX2 INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Eight values rounded to bfloat16 (nearest even; NaN kept quiet) and widened back.
AVX2 INLINE __m256 round8_bf16(__m256 v) {
    __m256i bits = _mm256_castps_si256(v);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF)));
    __m256i quiet = _mm256_or_si256(bits, _mm256_set1_epi32(0x00400000));
    __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    __m256 chosen = _mm256_blendv_ps(_mm256_castsi256_ps(rounded), _mm256_castsi256_ps(quiet), nan);
    return _mm256_and_ps(chosen, _mm256_castsi256_ps(_mm256_set1_epi32((int)0xFFFF0000u)));
}

/// Eight values rounded to `format` and widened back.
AVX2 INLINE __m256 round8(nibble_round_format format, __m256 v) {
    switch (format) {
    case NIBBLE_ROUND_F16: return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    case NIBBLE_ROUND_BF16: return round8_bf16(v);
    default: return v;
    }
}

AVX2 void nibble_round_f32_avx2(nibble_round_format format, const float *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, round8(format, _mm256_loadu_ps(src + i)));
    for (; i < n; i++) dst[i] = nibble_round(format, src[i]);
}

/// The eight dequantized elements [e, e + 8) (e even, all in one block whose scaled codes are lo and hi).
AVX2 INLINE __m256 decode8(const uint8_t *packed, size_t e, __m256 lo, __m256 hi, __m256i index_shift,
                           __m256i select_shift) {
    uint32_t word;
    memcpy(&word, packed + (e >> 1), sizeof word);
    __m256i codes = _mm256_set1_epi32((int)word);
    __m256i index = _mm256_srlv_epi32(codes, index_shift);
    __m256 select = _mm256_castsi256_ps(_mm256_sllv_epi32(codes, select_shift));
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, index), _mm256_permutevar8x32_ps(hi, index), select);
}

/// Over the flattened elements [begin, end): with `store`, writes them dequantized to dst `(end − begin)`;
/// otherwise returns their dot product with x `(end − begin)`.
AVX2 INLINE float span(const nibble_4bit_weight *w, size_t begin, size_t end, const float *x, float *dst,
                       const int store) {
    const __m256 code_lo = _mm256_loadu_ps(w->code), code_hi = _mm256_loadu_ps(w->code + 8);
    // Little-endian: byte j of the word holds elements 2j (high nibble) and 2j + 1 (low nibble).
    const __m256i index_shift = _mm256_setr_epi32(4, 0, 12, 8, 20, 16, 28, 24);
    const __m256i select_shift = _mm256_setr_epi32(24, 28, 16, 20, 8, 12, 0, 4);
    const uint8_t *packed = w->packed;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    float tail = 0;
    // Block and nested-group indices advance by counting: a division per 64-element block would cost as
    // much as decoding it.
    scale_cursor cursor = scale_cursor_at(w, begin / w->blocksize);
    size_t e = begin, block_end = (begin / w->blocksize + 1) * w->blocksize;
    for (; e < end; block_end += w->blocksize) {
        size_t stop = block_end < end ? block_end : end;
        __m256 scale = _mm256_set1_ps(scale_cursor_next(w, &cursor));
        __m256 lo = round8(w->compute, _mm256_mul_ps(code_lo, scale));
        __m256 hi = round8(w->compute, _mm256_mul_ps(code_hi, scale));
        size_t first = e + (e & 1);
        float table[16];  // (16) lo and hi, for elements outside whole groups of eight
        if ((e & 1) || ((stop - first) & 7)) {
            _mm256_storeu_ps(table, lo);
            _mm256_storeu_ps(table + 8, hi);
        }
#define ONE(E)                                                                   \
    do {                                                                         \
        uint8_t byte = packed[(E) >> 1];                                         \
        float value = table[((E) & 1) ? byte & 0x0F : byte >> 4];                \
        if (store) dst[(E) - begin] = value; else tail += x[(E) - begin] * value; \
    } while (0)
        if (e & 1 && e < stop) {
            ONE(e);
            e++;
        }
        for (; e + 16 <= stop; e += 16) {
            __m256 v0 = decode8(packed, e, lo, hi, index_shift, select_shift);
            __m256 v1 = decode8(packed, e + 8, lo, hi, index_shift, select_shift);
            if (store) {
                _mm256_storeu_ps(dst + e - begin, v0);
                _mm256_storeu_ps(dst + e - begin + 8, v1);
            } else {
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + e - begin), v0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + e - begin + 8), v1, acc1);
            }
        }
        if (e + 8 <= stop) {
            __m256 v0 = decode8(packed, e, lo, hi, index_shift, select_shift);
            if (store) {
                _mm256_storeu_ps(dst + e - begin, v0);
            } else {
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + e - begin), v0, acc0);
            }
            e += 8;
        }
        for (; e < stop; e++) ONE(e);
#undef ONE
    }
    return store ? 0 : hsum(_mm256_add_ps(acc0, acc1)) + tail;
}

/// Byte planes of the 16 values in lo (codes 0–7) and hi (codes 8–15): plane k holds byte k of every value,
/// the same 16 bytes in both 128-bit lanes, ready for `vpshufb`.
AVX2 INLINE void byte_planes(__m256 lo, __m256 hi, __m256i plane[4]) {
    // Within each lane of four floats, gather byte k of each float into dword k.
    const __m256i gather = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                            0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m256i pair = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i l = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(_mm256_castps_si256(lo), gather), pair);
    __m256i h = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(_mm256_castps_si256(hi), gather), pair);
    __m256i even = _mm256_unpacklo_epi64(l, h);  // planes 0 | 2
    __m256i odd = _mm256_unpackhi_epi64(l, h);   // planes 1 | 3
    plane[0] = _mm256_permute4x64_epi64(even, 0x44);
    plane[1] = _mm256_permute4x64_epi64(odd, 0x44);
    plane[2] = _mm256_permute4x64_epi64(even, 0xEE);
    plane[3] = _mm256_permute4x64_epi64(odd, 0xEE);
}

/// The 32 weights coded by the 16 bytes at `codes`, as four vectors of eight in the permuted order.
AVX2 INLINE void decode32(const uint8_t *codes, const __m256i plane[4], __m256 out[4]) {
    // Lane 0 gets each byte's high nibble (even elements), lane 1 its low nibble (odd elements).
    __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)codes));
    __m256i index = _mm256_and_si256(_mm256_srlv_epi32(bytes, _mm256_setr_epi32(4, 4, 4, 4, 0, 0, 0, 0)),
                                     _mm256_set1_epi8(0x0F));
    __m256i b0 = _mm256_shuffle_epi8(plane[0], index), b1 = _mm256_shuffle_epi8(plane[1], index);
    __m256i b2 = _mm256_shuffle_epi8(plane[2], index), b3 = _mm256_shuffle_epi8(plane[3], index);
    __m256i l01 = _mm256_unpacklo_epi8(b0, b1), h01 = _mm256_unpackhi_epi8(b0, b1);
    __m256i l23 = _mm256_unpacklo_epi8(b2, b3), h23 = _mm256_unpackhi_epi8(b2, b3);
    out[0] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(l01, l23));  // elements 0 2 4 6 1 3 5 7
    out[1] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(l01, l23));  // 8 + the same
    out[2] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(h01, h23));  // 16 + ...
    out[3] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(h01, h23));  // 24 + ...
}

/// In-lane byte gather: each 128-bit lane of eight 16-bit values becomes its eight low bytes then its eight
/// high bytes.
#define SPLIT_WORD_BYTES                                                                                   \
    _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, \
                     7, 9, 11, 13, 15)

/// bfloat16 compute: the 16 rounded values in lo and hi have zero low halves, so only bytes 2 and 3 need
/// planes (plane[0] and plane[1]); two shuffles per block fewer than `byte_planes`, and half the lookups.
AVX2 INLINE void bf16_planes(__m256 lo, __m256 hi, __m256i plane[2]) {
    // 16-bit lanes [v0–3 v8–11 | v4–7 v12–15] (values below 2^16, so the saturating pack is exact).
    __m256i words = _mm256_packus_epi32(_mm256_srli_epi32(_mm256_castps_si256(lo), 16),
                                        _mm256_srli_epi32(_mm256_castps_si256(hi), 16));
    // dwords [low v0–3, low v8–11, high v0–3, high v8–11 | low v4–7, low v12–15, high v4–7, high v12–15]
    __m256i bytes = _mm256_shuffle_epi8(words, SPLIT_WORD_BYTES);
    plane[0] = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
    plane[1] = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(2, 6, 3, 7, 2, 6, 3, 7));
}

/// `bf16_planes` of finite scaled values lo and hi, rounding them to bfloat16 (nearest even) with integer adds:
/// bits + 0x8000, less one when bit 16 is clear, is the usual bits + 0x7FFF + bit 16.
AVX2 INLINE void bf16_planes_finite(__m256 lo, __m256 hi, __m256i plane[2]) {
    const __m256i bit16 = _mm256_set1_epi32(0x10000), half = _mm256_set1_epi32(0x8000), zero = _mm256_setzero_si256();
    __m256i l = _mm256_castps_si256(lo), h = _mm256_castps_si256(hi);
    l = _mm256_add_epi32(_mm256_add_epi32(l, half), _mm256_cmpeq_epi32(_mm256_and_si256(l, bit16), zero));
    h = _mm256_add_epi32(_mm256_add_epi32(h, half), _mm256_cmpeq_epi32(_mm256_and_si256(h, bit16), zero));
    __m256i words = _mm256_packus_epi32(_mm256_srli_epi32(l, 16), _mm256_srli_epi32(h, 16));
    __m256i bytes = _mm256_shuffle_epi8(words, SPLIT_WORD_BYTES);
    plane[0] = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
    plane[1] = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(2, 6, 3, 7, 2, 6, 3, 7));
}

/// bfloat16 compute: the planes of a block whose code values scaled by s are lo and hi. A finite scale gives
/// finite or infinite products, never NaN, so the integer rounding is exact; otherwise the NaN-keeping one runs.
AVX2 INLINE void bf16_block_planes(__m256 lo, __m256 hi, float s, __m256i plane[2]) {
    if (__builtin_expect(__builtin_isfinite(s), 1)) {
        bf16_planes_finite(lo, hi, plane);
    } else {
        bf16_planes(round8_bf16(lo), round8_bf16(hi), plane);
    }
}

/// bfloat16 compute: 32 weights from the two upper byte planes, in the order 0 4 8 12 1 5 9 13, 2 6 10 14
/// 3 7 11 15, then 16 + the same (see `permute_rows_bf16`). Each 32-bit lane of the interleaved planes holds
/// two bfloat16 weights: a shift widens the lower and a mask the upper, so half the widening leaves the
/// shuffle ports.
AVX2 INLINE void decode32_bf16(const uint8_t *codes, const __m256i plane[2], __m256 out[4]) {
    __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)codes));
    __m256i index = _mm256_and_si256(_mm256_srlv_epi32(bytes, _mm256_setr_epi32(4, 4, 4, 4, 0, 0, 0, 0)),
                                     _mm256_set1_epi8(0x0F));
    __m256i b2 = _mm256_shuffle_epi8(plane[0], index), b3 = _mm256_shuffle_epi8(plane[1], index);
    __m256i l23 = _mm256_unpacklo_epi8(b2, b3), h23 = _mm256_unpackhi_epi8(b2, b3);
    const __m256i upper = _mm256_set1_epi32((int)0xFFFF0000u);
    out[0] = _mm256_castsi256_ps(_mm256_slli_epi32(l23, 16));
    out[1] = _mm256_castsi256_ps(_mm256_and_si256(l23, upper));
    out[2] = _mm256_castsi256_ps(_mm256_slli_epi32(h23, 16));
    out[3] = _mm256_castsi256_ps(_mm256_and_si256(h23, upper));
}

/// float16 compute: the 16 scaled values in lo and hi rounded to halves (the rounding the compute format
/// asks for), as a low-byte plane (plane[0]) and a high-byte plane (plane[1]).
AVX2 INLINE void f16_planes(__m256 lo, __m256 hi, __m256i plane[2]) {
    __m256i halves = _mm256_set_m128i(_mm256_cvtps_ph(hi, _MM_FROUND_TO_NEAREST_INT),
                                      _mm256_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT));
    // dwords [low v0–3, low v4–7, high v0–3, high v4–7 | low v8–11, low v12–15, high v8–11, high v12–15]
    __m256i bytes = _mm256_shuffle_epi8(halves, SPLIT_WORD_BYTES);
    plane[0] = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 1, 4, 5, 0, 1, 4, 5));
    plane[1] = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(2, 3, 6, 7, 2, 3, 6, 7));
}

/// float16 compute: 32 weights as halves widened by the hardware, in the order 0 2 … 14, 1 3 … 15,
/// 16 18 … 30, 17 19 … 31 (see `permute_rows_f16`).
AVX2 INLINE void decode32_f16(const uint8_t *codes, const __m256i plane[2], __m256 out[4]) {
    __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)codes));
    __m256i index = _mm256_and_si256(_mm256_srlv_epi32(bytes, _mm256_setr_epi32(4, 4, 4, 4, 0, 0, 0, 0)),
                                     _mm256_set1_epi8(0x0F));
    __m256i low = _mm256_shuffle_epi8(plane[0], index), high = _mm256_shuffle_epi8(plane[1], index);
    __m256i first = _mm256_unpacklo_epi8(low, high), second = _mm256_unpackhi_epi8(low, high);
    out[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(first));
    out[1] = _mm256_cvtph_ps(_mm256_extracti128_si256(first, 1));
    out[2] = _mm256_cvtph_ps(_mm256_castsi256_si128(second));
    out[3] = _mm256_cvtph_ps(_mm256_extracti128_si256(second, 1));
}

/// dst `(rows, n)` = x `(rows, ldx)` rounded to float16 and in the order of `decode32_f16` (n % 32 == 0).
AVX2 static void permute_rows_f16(const float *x, size_t rows, size_t ldx, size_t n, float *dst) {
    // Each 16 columns: evens of the first 16 then odds (0 2 … 14, 1 3 … 15).
    const __m256i evens_odds = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (size_t r = 0; r < rows; r++)
        for (size_t g = 0; g < n; g += 16) {
            __m256 a = _mm256_permutevar8x32_ps(round8(NIBBLE_ROUND_F16, _mm256_loadu_ps(x + r * ldx + g)), evens_odds);
            __m256 b = _mm256_permutevar8x32_ps(round8(NIBBLE_ROUND_F16, _mm256_loadu_ps(x + r * ldx + g + 8)), evens_odds);
            _mm256_storeu_ps(dst + r * n + g, _mm256_permute2f128_ps(a, b, 0x20));
            _mm256_storeu_ps(dst + r * n + g + 8, _mm256_permute2f128_ps(a, b, 0x31));
        }
}

/// dst `(rows, n)` = x `(rows, ldx)` rounded to bfloat16 and in the order of `decode32_bf16` (n % 16 == 0).
AVX2 static void permute_rows_bf16(const float *x, size_t rows, size_t ldx, size_t n, float *dst) {
    // Each 16 columns: 0 4 8 12 1 5 9 13 | 2 6 10 14 3 7 11 15, from the columns' two vectors a (0–7) and b (8–15).
    const __m256i spread = _mm256_setr_epi32(0, 4, 2, 6, 1, 5, 3, 7);  // a → 0 4 2 6 1 5 3 7
    for (size_t r = 0; r < rows; r++)
        for (size_t g = 0; g < n; g += 16) {
            __m256 a = _mm256_permutevar8x32_ps(round8_bf16(_mm256_loadu_ps(x + r * ldx + g)), spread);
            __m256 b = _mm256_permutevar8x32_ps(round8_bf16(_mm256_loadu_ps(x + r * ldx + g + 8)), spread);
            // a = 0 4 2 6 1 5 3 7, b = 8 12 10 14 9 13 11 15: interleave 64-bit pairs per lane.
            __m256 first = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)));   // 0 4 8 12 | 1 5 9 13
            __m256 second = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)));  // 2 6 10 14 | 3 7 11 15
            _mm256_storeu_ps(dst + r * n + g, first);
            _mm256_storeu_ps(dst + r * n + g + 8, second);
        }
}

/// dst `(rows, n)` = x `(rows, ldx)` rounded to `format`, each group of eight columns reordered 0 2 4 6 1 3 5 7
/// (n % 8 == 0).
AVX2 static void permute_rows(nibble_round_format format, const float *x, size_t rows, size_t ldx, size_t n, float *dst) {
    const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < n; i += 8)
            _mm256_storeu_ps(dst + r * n + i,
                             _mm256_permutevar8x32_ps(round8(format, _mm256_loadu_ps(x + r * ldx + i)), order));
}

int nibble_4bit_avx2_permutes(size_t n, size_t blocksize) { return n > 0 && n % 32 == 0 && blocksize % 32 == 0; }

AVX2 void nibble_4bit_prepare_avx2(nibble_round_format compute, const float *x, size_t rows, size_t ldx, size_t n,
                                   float *xp) {
    if (compute == NIBBLE_ROUND_F16) {
        permute_rows_f16(x, rows, ldx, n, xp);
    } else if (compute == NIBBLE_ROUND_BF16) {
        permute_rows_bf16(x, rows, ldx, n, xp);
    } else {
        permute_rows(compute, x, rows, ldx, n, xp);
    }
}

/// Fast layout, over the flattened elements [begin, end) (both multiples of 32, as is the block size): with
/// `store`, writes them dequantized in the permuted order to dst; otherwise returns their dot product with the
/// permuted input xp.
AVX2 INLINE float span32(const nibble_4bit_weight *w, size_t begin, size_t end, const float *xp, float *dst,
                         const int store) {
    const __m256 code_lo = _mm256_loadu_ps(w->code), code_hi = _mm256_loadu_ps(w->code + 8);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    scale_cursor cursor = scale_cursor_at(w, begin / w->blocksize);
    size_t block_end = (begin / w->blocksize + 1) * w->blocksize;  // a row may start inside a block
    for (size_t e = begin; e < end; block_end += w->blocksize) {
        size_t stop = block_end < end ? block_end : end;
        float s = scale_cursor_next(w, &cursor);
        __m256 scale = _mm256_set1_ps(s);
        __m256 lo = _mm256_mul_ps(code_lo, scale), hi = _mm256_mul_ps(code_hi, scale);
        __m256i plane[4];
        if (w->compute == NIBBLE_ROUND_F16) {
            f16_planes(lo, hi, plane);
        } else if (w->compute == NIBBLE_ROUND_BF16) {
            bf16_block_planes(lo, hi, s, plane);
        } else {
            byte_planes(lo, hi, plane);
        }
        for (; e < stop; e += 32) {
            __m256 v[4];
            if (w->compute == NIBBLE_ROUND_F16) {
                decode32_f16(w->packed + (e >> 1), plane, v);
            } else if (w->compute == NIBBLE_ROUND_BF16) {
                decode32_bf16(w->packed + (e >> 1), plane, v);
            } else {
                decode32(w->packed + (e >> 1), plane, v);
            }
            size_t j = e - begin;
            for (int k = 0; k < 4; k++) {
                if (store) {
                    _mm256_storeu_ps(dst + j + 8 * k, v[k]);
                } else {
                    acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(xp + j + 8 * k), v[k], acc[k]);
                }
            }
        }
    }
    return store ? 0 : hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

/// Fast layout, one weight row's dot product with xp when weights stay in float32: Σ_block absmax · Σ code·x.
/// The byte planes of the unscaled code are built once, and each block costs one multiply-add instead of a
/// table rebuild. Only the rounding of the sum differs from scaling each weight first.
AVX2 INLINE float dot32_f32(const nibble_4bit_weight *w, size_t begin, size_t end, const float *xp,
                            const __m256i plane[4]) {
    __m256 acc = _mm256_setzero_ps();
    scale_cursor cursor = scale_cursor_at(w, begin / w->blocksize);
    size_t block_end = (begin / w->blocksize + 1) * w->blocksize;  // a row may start inside a block
    for (size_t e = begin; e < end; block_end += w->blocksize) {
        size_t stop = block_end < end ? block_end : end;
        __m256 block[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (; e < stop; e += 32) {
            __m256 v[4];
            decode32(w->packed + (e >> 1), plane, v);
            const float *xj = xp + (e - begin);
            for (int k = 0; k < 4; k++) block[k] = _mm256_fmadd_ps(_mm256_loadu_ps(xj + 8 * k), v[k], block[k]);
        }
        __m256 sum = _mm256_add_ps(_mm256_add_ps(block[0], block[1]), _mm256_add_ps(block[2], block[3]));
        acc = _mm256_fmadd_ps(sum, _mm256_set1_ps(scale_cursor_next(w, &cursor)), acc);
    }
    return hsum(acc);
}

/// Fast layout, float32 compute: the elements [begin, end) dequantized into dst in the permuted order, each
/// decoded code multiplied by its block's absmax — the same single rounding as scaling the code table first,
/// without rebuilding the byte planes for every block (the planes of the unscaled code are passed in).
AVX2 INLINE void store32_f32(const nibble_4bit_weight *w, size_t begin, size_t end, float *dst, const __m256i plane[4]) {
    scale_cursor cursor = scale_cursor_at(w, begin / w->blocksize);
    size_t block_end = (begin / w->blocksize + 1) * w->blocksize;  // a row may start inside a block
    for (size_t e = begin; e < end; block_end += w->blocksize) {
        size_t stop = block_end < end ? block_end : end;
        __m256 scale = _mm256_set1_ps(scale_cursor_next(w, &cursor));
        for (; e < stop; e += 32) {
            __m256 v[4];
            decode32(w->packed + (e >> 1), plane, v);
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(dst + (e - begin) + 8 * k, _mm256_mul_ps(v[k], scale));
        }
    }
}

/// Fast layout, R input rows (2 … 6) at once: each group of 32 weights is decoded into registers and
/// multiplied into every row's sums before the next group is decoded. The columns go in slices whose R input
/// rows stay in L1 (24 KiB), and outputs in tiles whose weights stay in cache across the slices; each slice's
/// sums are added into y. xp is `(R, n)` prepared for `compute`; code_plane holds the unscaled code (float32
/// compute multiplies each decoded weight by its absmax: the rounding a scaled table would give).
AVX2 INLINE void fused_rows(const nibble_4bit_weight *w, const float *xp, const int R, const nibble_round_format compute,
                            size_t o_begin, size_t o_end, float *y, size_t ldy, const __m256i code_plane[4]) {
    const size_t n = w->n;
    const int A = R == 2 ? 4 : R <= 4 ? 2 : 1;  // accumulators per row: enough independent chains
    const __m256 code_lo = _mm256_loadu_ps(w->code), code_hi = _mm256_loadu_ps(w->code + 8);
    const size_t slice = 6144 / (size_t)R / 32 * 32, tile = 16;  // columns per pass, outputs per tile
    for (size_t t0 = o_begin; t0 < o_end; t0 += tile) {
        size_t t1 = t0 + tile < o_end ? t0 + tile : o_end;
        for (size_t c0 = 0; c0 < n; c0 += slice) {
            size_t c1 = c0 + slice < n ? c0 + slice : n;
            for (size_t o = t0; o < t1; o++) {
                __m256 acc[6][4];  // (R, A) partial sums
                for (int r = 0; r < R; r++)
                    for (int a = 0; a < A; a++) acc[r][a] = _mm256_setzero_ps();
                size_t begin = o * n + c0, end = o * n + c1;
                scale_cursor cursor = scale_cursor_at(w, begin / w->blocksize);
                size_t block_end = (begin / w->blocksize + 1) * w->blocksize;  // a slice may start inside a block
                for (size_t e = begin; e < end; block_end += w->blocksize) {
                    size_t stop = block_end < end ? block_end : end;
                    float s = scale_cursor_next(w, &cursor);
                    __m256 scale = _mm256_set1_ps(s);
                    __m256i plane[4];
                    if (compute == NIBBLE_ROUND_F16) {
                        f16_planes(_mm256_mul_ps(code_lo, scale), _mm256_mul_ps(code_hi, scale), plane);
                    } else if (compute == NIBBLE_ROUND_BF16) {
                        bf16_block_planes(_mm256_mul_ps(code_lo, scale), _mm256_mul_ps(code_hi, scale), s, plane);
                    }
                    for (; e < stop; e += 32) {
                        __m256 v[4];
                        if (compute == NIBBLE_ROUND_F16) {
                            decode32_f16(w->packed + (e >> 1), plane, v);
                        } else if (compute == NIBBLE_ROUND_BF16) {
                            decode32_bf16(w->packed + (e >> 1), plane, v);
                        } else {
                            decode32(w->packed + (e >> 1), code_plane, v);
                            for (int k = 0; k < 4; k++) v[k] = _mm256_mul_ps(v[k], scale);
                        }
                        const float *xj = xp + (e - o * n);
                        for (int r = 0; r < R; r++)
                            for (int k = 0; k < 4; k++)
                                acc[r][k % A] = _mm256_fmadd_ps(_mm256_loadu_ps(xj + r * n + 8 * k), v[k], acc[r][k % A]);
                    }
                }
                for (int r = 0; r < R; r++) {
                    __m256 sum = acc[r][0];
                    for (int a = 1; a < A; a++) sum = _mm256_add_ps(sum, acc[r][a]);
                    float total = hsum(sum);
                    y[r * ldy + o] = c0 == 0 ? total : y[r * ldy + o] + total;
                }
            }
        }
    }
}

/// `panels` serve prefill-sized inputs, above this many rows. A decode batch of 7–16 sequences keeps the decoded
/// block and the float tiles, whose prefetching reads it from L2 in time: with panels, 8-sequence SmolLM2 decode
/// steps ran ~5% slower on two threads.
#define PANEL_MIN_ROWS 16

/// Input rows per group of `panels`: a whole prefill step (`max_batch_tokens`, 512 by default) decodes each weight
/// once. Groups of 128, whose sums and input slice would stay in L2, decoded the weights four times per step and
/// prefilled 512-token TinyLlama prompts 0.97x as fast (two threads).
#define PANEL_ROW_GROUP 512

/// One register tile of `panels`: R input rows × C weight rows over one slice of S columns. The 8-lane sums
/// continue from acc `(R, NIBBLE_TILE_BLOCK, 8)` (zero on the first slice) and go back to it, or on the last slice
/// are summed into y.
AVX2 INLINE void panel_tile(const float *x, size_t ldx, const float *panel, size_t S, float *acc, float *y, size_t ldy,
                            const int first, const int last, const int R, const int C) {
    __m256 a[4][3];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            a[r][c] = first ? _mm256_setzero_ps() : _mm256_load_ps(acc + ((size_t)r * NIBBLE_TILE_BLOCK + c) * 8);
    for (size_t i = 0; i < S; i += 8) {
        __m256 wv[3];
        for (int c = 0; c < C; c++) wv[c] = _mm256_load_ps(panel + c * S + i);
        for (int r = 0; r < R; r++) {
            __m256 xv = _mm256_loadu_ps(x + r * ldx + i);
            for (int c = 0; c < C; c++) a[r][c] = _mm256_fmadd_ps(xv, wv[c], a[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            if (last) {
                y[r * ldy + c] = hsum(a[r][c]);
            } else {
                _mm256_store_ps(acc + ((size_t)r * NIBBLE_TILE_BLOCK + c) * 8, a[r][c]);
            }
        }
}

/// `panel_tile` over a panel's `count` weight rows, three at a time, for R input rows.
AVX2 INLINE void panel_tiles(const float *x, size_t ldx, const float *panel, size_t S, float *acc, float *y,
                             size_t ldy, const int first, const int last, const int R, const int count) {
    int c = 0;
    for (; c + 3 <= count; c += 3) panel_tile(x, ldx, panel + c * S, S, acc + c * 8, y + c, ldy, first, last, R, 3);
    if (count - c == 2) panel_tile(x, ldx, panel + c * S, S, acc + c * 8, y + c, ldy, first, last, R, 2);
    if (count - c == 1) panel_tile(x, ldx, panel + c * S, S, acc + c * 8, y + c, ldy, first, last, R, 1);
}

/// Fast layout, prefill-sized inputs (more than PANEL_MIN_ROWS rows): weight rows go in blocks of
/// NIBBLE_TILE_BLOCK and columns in slices of about 512. Each block's slice is decoded into a panel (at most
/// 36 KiB, against 147 KiB for a whole block of TinyLlama rows) and multiplied into every input row of a group by
/// 4 × 3 register tiles, whose 8-lane sums carry over from slice to slice: every output sums the same products in
/// the same order as one tile over the whole row, while the tiles' weights and input slices stay close to the core
/// (TinyLlama shapes 1.04–1.12x, single-thread probe). Rows of up to ~768 columns stay one slice.
AVX2 static void panels(const nibble_4bit_weight *w, const float *xp, size_t rows, size_t o_begin, size_t o_end,
                        float *y, size_t ldy, const __m256i plane[4]) {
    const size_t n = w->n;
    size_t slices = (n + 256) / 512;
    if (slices == 0) slices = 1;
    const size_t slice = (n / 32 + slices - 1) / slices * 32;  // a multiple of 32, so every slice is whole groups
    float *panel = aligned_alloc(64, NIBBLE_TILE_BLOCK * slice * sizeof(float));                // (block rows, slice)
    float *acc = aligned_alloc(64, PANEL_ROW_GROUP * NIBBLE_TILE_BLOCK * 8 * sizeof(float));  // (group rows, block rows, 8)
    if (!panel || !acc) abort();
    for (size_t g0 = 0; g0 < rows; g0 += PANEL_ROW_GROUP) {
        size_t g1 = g0 + PANEL_ROW_GROUP < rows ? g0 + PANEL_ROW_GROUP : rows;
        for (size_t block = o_begin; block < o_end; block += NIBBLE_TILE_BLOCK) {
            const int count = (int)(block + NIBBLE_TILE_BLOCK < o_end ? NIBBLE_TILE_BLOCK : o_end - block);
            for (size_t s0 = 0; s0 < n; s0 += slice) {
                size_t S = s0 + slice < n ? slice : n - s0;
                const int first = s0 == 0, last = s0 + S == n;
                for (int c = 0; c < count; c++) {
                    size_t begin = (block + c) * n + s0;
                    if (w->compute == NIBBLE_ROUND_F32) {
                        store32_f32(w, begin, begin + S, panel + c * S, plane);
                    } else {
                        span32(w, begin, begin + S, NULL, panel + c * S, 1);
                    }
                }
                size_t r = g0;
                for (; r + 4 <= g1; r += 4)
                    panel_tiles(xp + r * n + s0, n, panel, S, acc + (r - g0) * NIBBLE_TILE_BLOCK * 8,
                                y + r * ldy + block, ldy, first, last, 4, count);
                const float *x = xp + r * n + s0;
                float *a = acc + (r - g0) * NIBBLE_TILE_BLOCK * 8, *yr = y + r * ldy + block;
                switch (g1 - r) {
                case 3: panel_tiles(x, n, panel, S, a, yr, ldy, first, last, 3, count); break;
                case 2: panel_tiles(x, n, panel, S, a, yr, ldy, first, last, 2, count); break;
                case 1: panel_tiles(x, n, panel, S, a, yr, ldy, first, last, 1, count); break;
                default: break;
                }
            }
        }
    }
    free(panel);
    free(acc);
}

/// `fused_rows` for 2 … 6 rows, with the row count and format as constants so each pair compiles on its own.
AVX2 static void fused_rows_any(const nibble_4bit_weight *w, const float *xp, size_t rows, size_t o_begin,
                                size_t o_end, float *y, size_t ldy, const __m256i plane[4]) {
#define FUSED_FORMATS(R)                                                                                \
    case R:                                                                                             \
        if (w->compute == NIBBLE_ROUND_F16) {                                                           \
            fused_rows(w, xp, R, NIBBLE_ROUND_F16, o_begin, o_end, y, ldy, plane);                      \
        } else if (w->compute == NIBBLE_ROUND_BF16) {                                                   \
            fused_rows(w, xp, R, NIBBLE_ROUND_BF16, o_begin, o_end, y, ldy, plane);                     \
        } else {                                                                                        \
            fused_rows(w, xp, R, NIBBLE_ROUND_F32, o_begin, o_end, y, ldy, plane);                      \
        }                                                                                               \
        break;
    switch (rows) {
        FUSED_FORMATS(2) FUSED_FORMATS(3) FUSED_FORMATS(4) FUSED_FORMATS(5) FUSED_FORMATS(6)
    default: abort();
    }
#undef FUSED_FORMATS
}

/// Whether `fused_rows` beats decoding into a scratch block (see the top of the file).
static int fuses(size_t rows) { return rows >= 2 && rows <= 6; }

AVX2 void nibble_matmul_4bit_avx2(const nibble_4bit_weight *w, const float *xp, size_t rows, size_t o_begin,
                                  size_t o_end, float *y, size_t ldy) {
    size_t n = w->n;
    int fast = nibble_4bit_avx2_permutes(n, w->blocksize);
    __m256i plane[4];  // the unscaled code, for float32 compute
    byte_planes(_mm256_loadu_ps(w->code), _mm256_loadu_ps(w->code + 8), plane);
    if (rows == 1) {
        // Decode fused with the dot product: each code is read once and never stored.
        if (fast && w->compute == NIBBLE_ROUND_F32) {
            for (size_t o = o_begin; o < o_end; o++) y[o] = dot32_f32(w, o * n, (o + 1) * n, xp, plane);
        } else {
            for (size_t o = o_begin; o < o_end; o++)
                y[o] = fast ? span32(w, o * n, (o + 1) * n, xp, NULL, 0) : span(w, o * n, (o + 1) * n, xp, NULL, 0);
        }
        return;
    }
    if (fast && fuses(rows)) {
        fused_rows_any(w, xp, rows, o_begin, o_end, y, ldy, plane);
        return;
    }
    if (fast && rows > PANEL_MIN_ROWS) {
        panels(w, xp, rows, o_begin, o_end, y, ldy, plane);
        return;
    }
    // A decode batch of 7–16 rows, or other shapes: decode a block of weight rows once (it stays in cache) and run
    // the float kernel.
    float *scratch = aligned_alloc(64, (NIBBLE_TILE_BLOCK * (n ? n : 1) * sizeof(float) + 63) / 64 * 64);  // (block rows, n)
    if (!scratch) abort();
    for (size_t block = o_begin; block < o_end; block += NIBBLE_TILE_BLOCK) {
        size_t count = block + NIBBLE_TILE_BLOCK < o_end ? NIBBLE_TILE_BLOCK : o_end - block;
        if (fast && w->compute == NIBBLE_ROUND_F32) {
            store32_f32(w, block * n, (block + count) * n, scratch, plane);
        } else if (fast) {
            span32(w, block * n, (block + count) * n, NULL, scratch, 1);
        } else {
            span(w, block * n, (block + count) * n, NULL, scratch, 1);
        }
        nibble_matmul_avx2(NIBBLE_WEIGHT_F32, xp, rows, n, scratch, n, 0, count, y + block, ldy);
    }
    free(scratch);
}
#endif
