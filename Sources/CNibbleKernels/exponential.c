// Elementwise functions built on the shared exponential: exp itself (attention's softmax, tests) and the SwiGLU
// gate silu(g)·u of every LLaMA-family MLP, eight lanes at a time where the CPU has AVX2.
#include "kernels_internal.h"
#include "exponential.h"

#if defined(__x86_64__) || defined(__i386__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static void exp_avx2(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, nibble_exp8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = nibble_exp_scalar(x[i]);
}

AVX2 static void silu_mul_avx2(float *gate, const float *up, size_t n) {
    const __m256 one = _mm256_set1_ps(1), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 e = nibble_exp8(_mm256_xor_ps(g, sign));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1 + nibble_exp_scalar(-gate[i])) * up[i];
}
#endif

void nibble_exp_f32(nibble_impl impl, const float *x, float *y, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        exp_avx2(x, y, n);
        return;
    }
#endif
    (void)impl;
    for (size_t i = 0; i < n; i++) y[i] = nibble_exp_scalar(x[i]);
}

void nibble_silu_mul_f32(nibble_impl impl, float *gate, const float *up, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        silu_mul_avx2(gate, up, n);
        return;
    }
#endif
    (void)impl;
    for (size_t i = 0; i < n; i++) gate[i] = gate[i] / (1 + nibble_exp_scalar(-gate[i])) * up[i];
}
