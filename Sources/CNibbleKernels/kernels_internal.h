#ifndef NIBBLE_KERNELS_INTERNAL_H
#define NIBBLE_KERNELS_INTERNAL_H

#include "nibble_kernels.h"
#include <string.h>

/// Weight rows per cache block: a block (at most 32 KiB of f32, 16 KiB of halves at n = 512; more for wider
/// rows) stays in L1/L2 while every input row passes over it, so weights stream from memory once per call.
#define NIBBLE_WEIGHT_BLOCK 16

/// IEEE half bits to float32, exact for every input (subnormals, infinities, NaN payloads).
static inline float nibble_half_to_float(uint16_t h) {
#if defined(__aarch64__)
    __fp16 value;
    memcpy(&value, &h, sizeof value);
    return (float)value;
#else
    // Branch-free and without int→float conversion, so loops over rows vectorize on any SIMD baseline.
    // Rebiasing the exponent by 112 (127 - 15) is exact for normal halves; infinities/NaNs get another 112 to
    // reach exponent 255; subnormals are rebuilt as (2^-14 + m·2^-24) - 2^-14, exact in float32.
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t bits = (uint32_t)(h & 0x7FFF) << 13;
    uint32_t exponent = bits & 0x0F800000u;
    bits += 112u << 23;
    bits += exponent == 0x0F800000u ? 112u << 23 : 0;
    uint32_t rebuilt_bits = bits + (1u << 23);
    float normal, rebuilt;
    memcpy(&normal, &bits, sizeof normal);
    memcpy(&rebuilt, &rebuilt_bits, sizeof rebuilt);
    float magnitude = exponent == 0 ? rebuilt - 6.103515625e-05f : normal;  // 2^-14
    uint32_t out_bits;
    memcpy(&out_bits, &magnitude, sizeof out_bits);
    out_bits |= sign;
    float out;
    memcpy(&out, &out_bits, sizeof out);
    return out;
#endif
}

/// bfloat16 bits to float32 (the upper half of a float32).
static inline float nibble_bf16_to_float(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

void nibble_matmul_scalar(nibble_weight_format format, const float *x, size_t rows, size_t ldx, const void *w,
                          size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy);
float nibble_dot_f32_scalar(const float *a, const float *b, size_t n);
void nibble_axpy_f32_scalar(float *y, float alpha, const float *x, size_t n);

#if defined(__x86_64__) || defined(__i386__)
void nibble_matmul_avx2(nibble_weight_format format, const float *x, size_t rows, size_t ldx, const void *w,
                        size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy);
float nibble_dot_f32_avx2(const float *a, const float *b, size_t n);
void nibble_axpy_f32_avx2(float *y, float alpha, const float *x, size_t n);
void nibble_f16_to_f32_avx2(const uint16_t *src, float *dst, size_t n);
#endif

#endif
