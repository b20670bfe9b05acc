// Narrowing and widening between float32 and the half-precision storage types of the KV cache. The vector
// versions give the same bits as the scalar ones for every input: F16C's conversion rounds to nearest even and
// quiets NaNs by setting the top mantissa bit, as `nibble_float_to_half` does; bfloat16 rounding is integer
// arithmetic in both.
#include "kernels_internal.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/// Float32 bits rounded to bfloat16 bits (nearest even; NaN kept quiet) in the low half of each lane.
AVX2 static inline __m256i narrow8_bf16(__m256 v) {
    __m256i bits = _mm256_castps_si256(v);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF)));
    __m256i quiet = _mm256_or_si256(bits, _mm256_set1_epi32(0x00400000));
    __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    __m256i chosen = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(rounded), _mm256_castsi256_ps(quiet), nan));
    return _mm256_srli_epi32(chosen, 16);
}

AVX2 static void f32_to_f16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) dst[i] = nibble_float_to_half(src[i]);
}

AVX2 static void f32_to_bf16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = narrow8_bf16(_mm256_loadu_ps(src + i)), b = narrow8_bf16(_mm256_loadu_ps(src + i + 8));
        // packus works within 128-bit lanes: a0 b0 a1 b1 → reorder the quadwords to a0 a1 b0 b1.
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
        _mm256_storeu_si256((__m256i *)(dst + i), packed);
    }
    for (; i < n; i++) dst[i] = nibble_float_to_bf16(src[i]);
}

AVX2 static void bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
    }
    for (; i < n; i++) dst[i] = nibble_bf16_to_float(src[i]);
}
#endif

void nibble_f32_to_f16(nibble_impl impl, const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        f32_to_f16_avx2(src, dst, n);
        return;
    }
#endif
    (void)impl;
    for (size_t i = 0; i < n; i++) dst[i] = nibble_float_to_half(src[i]);
}

void nibble_f32_to_bf16(nibble_impl impl, const float *src, uint16_t *dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        f32_to_bf16_avx2(src, dst, n);
        return;
    }
#endif
    (void)impl;
    for (size_t i = 0; i < n; i++) dst[i] = nibble_float_to_bf16(src[i]);
}

void nibble_bf16_to_f32(nibble_impl impl, const uint16_t *src, float *dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        bf16_to_f32_avx2(src, dst, n);
        return;
    }
#endif
    (void)impl;
    for (size_t i = 0; i < n; i++) dst[i] = nibble_bf16_to_float(src[i]);
}
