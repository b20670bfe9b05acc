// Attention of one query head over a paged KV cache, the inner loop of `pagedCausalAttention`. Keeping the
// whole walk over the blocks in C (one call per (row, head) instead of two kernel calls per position) matters
// for long prompts: a 1,000-token prefill makes half a million (row, position) pairs per head and layer.
//
// Online softmax, one block at a time: the scores of a block, then its maximum folded into the running one
// (rescaling what earlier blocks added), then its values weighted by exp(score − max). The AVX2 path does the
// dot products and the weighted sums eight lanes at a time, widening half-precision keys and values in
// registers; the order of operations is otherwise the portable one's.
#include "kernels_internal.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static inline float kv_load(nibble_weight_format format, const char *row, size_t i) {
    switch (format) {
    case NIBBLE_WEIGHT_F32: return ((const float *)row)[i];
    case NIBBLE_WEIGHT_F16: return nibble_half_to_float(((const uint16_t *)row)[i]);
    default: return nibble_bf16_to_float(((const uint16_t *)row)[i]);
    }
}

#define ATTEND_BODY(DOT, AXPY, SCALE_OUT)                                                                      \
    const size_t bs = kv->block_size;                                                                          \
    for (size_t i = 0; i < head_dim; i++) out[i] = 0;                                                          \
    float running_max = -INFINITY, running_sum = 0;                                                            \
    for (size_t b = first / bs; b <= (end - 1) / bs; b++) {                                                    \
        const char *base = kv->storage + (size_t)kv->blocks[b] * kv->block_bytes + head_offset;                \
        size_t low = first > b * bs ? first : b * bs, high = end < (b + 1) * bs ? end : (b + 1) * bs;          \
        float block_max = -INFINITY;                                                                           \
        for (size_t p = low; p < high; p++) {                                                                  \
            const char *key = base + kv->key_offset + (p - b * bs) * kv->slot_bytes;                           \
            float score = DOT(key) * scale;                                                                    \
            scores[p - low] = score;                                                                           \
            block_max = score > block_max ? score : block_max;                                                 \
        }                                                                                                      \
        if (block_max > running_max) {                                                                         \
            if (running_sum > 0) {                                                                             \
                float correction = expf(running_max - block_max);                                              \
                running_sum *= correction;                                                                     \
                SCALE_OUT(correction);                                                                         \
            }                                                                                                  \
            running_max = block_max;                                                                           \
        }                                                                                                      \
        for (size_t p = low; p < high; p++) {                                                                  \
            float weight = expf(scores[p - low] - running_max);                                                \
            running_sum += weight;                                                                             \
            const char *value = base + kv->value_offset + (p - b * bs) * kv->slot_bytes;                       \
            AXPY(weight, value);                                                                               \
        }                                                                                                      \
    }                                                                                                          \
    SCALE_OUT(1 / running_sum);

static void attend_head_scalar(const nibble_paged_kv *kv, size_t head_offset, const float *q, size_t head_dim,
                               float scale, size_t first, size_t end, float *scores, float *out) {
    const nibble_weight_format format = kv->format;
#define SCALAR_DOT(key) ({                                                                                     \
        float partial[8] = {0};                                                                                \
        size_t i = 0;                                                                                          \
        for (; i + 8 <= head_dim; i += 8)                                                                      \
            for (int k = 0; k < 8; k++) partial[k] += q[i + k] * kv_load(format, (key), i + k);                \
        float sum = 0;                                                                                         \
        for (int k = 0; k < 8; k++) sum += partial[k];                                                         \
        for (; i < head_dim; i++) sum += q[i] * kv_load(format, (key), i);                                     \
        sum; })
#define SCALAR_AXPY(weight, value) for (size_t i = 0; i < head_dim; i++) out[i] += (weight) * kv_load(format, (value), i)
#define SCALAR_SCALE(factor) for (size_t i = 0; i < head_dim; i++) out[i] *= (factor)
    ATTEND_BODY(SCALAR_DOT, SCALAR_AXPY, SCALAR_SCALE)
#undef SCALAR_DOT
#undef SCALAR_AXPY
#undef SCALAR_SCALE
}

#if defined(__x86_64__) || defined(__i386__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

AVX2 INLINE __m256 kv_load8(nibble_weight_format format, const char *row, size_t i) {
    switch (format) {
    case NIBBLE_WEIGHT_F32: return _mm256_loadu_ps((const float *)row + i);
    case NIBBLE_WEIGHT_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    default: {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
    }
}

AVX2 INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// The AVX2 walk for one key/value format (a constant, so the loads inline without a switch per vector).
#define DEFINE_ATTEND_AVX2(NAME, FORMAT)                                                                       \
    AVX2 static void NAME(const nibble_paged_kv *kv, size_t head_offset, const float *q, size_t head_dim,       \
                          float scale, size_t first, size_t end, float *scores, float *out) {                   \
        const nibble_weight_format format = FORMAT;                                                            \
        const size_t vec = head_dim & ~(size_t)7;                                                              \
        ATTEND_BODY(AVX2_DOT, AVX2_AXPY, AVX2_SCALE)                                                           \
    }
#define AVX2_DOT(key) ({                                                                                       \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;                                                              \
        size_t i = 0;                                                                                          \
        for (; i + 16 <= vec; i += 16) {                                                                       \
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), kv_load8(format, (key), i), a0);                      \
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), kv_load8(format, (key), i + 8), a1);              \
        }                                                                                                      \
        if (i < vec) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), kv_load8(format, (key), i), a0);             \
        float sum = hsum8(_mm256_add_ps(a0, a1));                                                              \
        for (i = vec; i < head_dim; i++) sum += q[i] * kv_load(format, (key), i);                              \
        sum; })
#define AVX2_AXPY(weight, value) do {                                                                          \
        __m256 w8 = _mm256_set1_ps(weight);                                                                    \
        for (size_t i = 0; i < vec; i += 8)                                                                    \
            _mm256_storeu_ps(out + i, _mm256_fmadd_ps(w8, kv_load8(format, (value), i), _mm256_loadu_ps(out + i))); \
        for (size_t i = vec; i < head_dim; i++) out[i] += (weight) * kv_load(format, (value), i);              \
    } while (0)
#define AVX2_SCALE(factor) do {                                                                                \
        __m256 f8 = _mm256_set1_ps(factor);                                                                    \
        for (size_t i = 0; i < vec; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(f8, _mm256_loadu_ps(out + i))); \
        for (size_t i = vec; i < head_dim; i++) out[i] *= (factor);                                            \
    } while (0)

DEFINE_ATTEND_AVX2(attend_head_avx2_f32, NIBBLE_WEIGHT_F32)
DEFINE_ATTEND_AVX2(attend_head_avx2_f16, NIBBLE_WEIGHT_F16)
DEFINE_ATTEND_AVX2(attend_head_avx2_bf16, NIBBLE_WEIGHT_BF16)
#endif

void nibble_attend_head(nibble_impl impl, const nibble_paged_kv *kv, size_t head_offset, const float *q,
                        size_t head_dim, float scale, size_t first, size_t end, float *scores, float *out) {
    if (end <= first) {
        for (size_t i = 0; i < head_dim; i++) out[i] = 0;
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        switch (kv->format) {
        case NIBBLE_WEIGHT_F32: attend_head_avx2_f32(kv, head_offset, q, head_dim, scale, first, end, scores, out); return;
        case NIBBLE_WEIGHT_F16: attend_head_avx2_f16(kv, head_offset, q, head_dim, scale, first, end, scores, out); return;
        case NIBBLE_WEIGHT_BF16: attend_head_avx2_bf16(kv, head_offset, q, head_dim, scale, first, end, scores, out); return;
        }
    }
#endif
    (void)impl;
    attend_head_scalar(kv, head_offset, q, head_dim, scale, first, end, scores, out);
}
