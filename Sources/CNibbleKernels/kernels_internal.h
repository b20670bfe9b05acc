#ifndef NIBBLE_KERNELS_INTERNAL_H
#define NIBBLE_KERNELS_INTERNAL_H

#include "nibble_kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/// Weight rows per cache block: a block (at most 32 KiB of f32, 16 KiB of halves at n = 512; more for wider
/// rows) stays in L1/L2 while every input row passes over it, so weights stream from memory once per call.
#define NIBBLE_WEIGHT_BLOCK 16

/// Weight rows per cache block of the AVX2 float tiles (and of the 4-bit rows decoded for them): a multiple of
/// the tile's three weight rows, so a block never ends in one-row tiles, which do a third of the work per load.
#define NIBBLE_TILE_BLOCK 18

/// The loop nest of every several-row kernel. Weight rows [o_begin, o_end) go in cache blocks of
/// NIBBLE_WEIGHT_BLOCK, so weights stream from memory once per call while every input row passes over the
/// block; inside a block, register tiles of R input rows × C weight rows, then leftover weight rows one at a
/// time, then leftover input rows against C (then 1) weight rows. Each tile is FN(ARGS..., r, o, rows, cols),
/// with constant rows and cols so the tile's accumulators stay in registers.
#define NIBBLE_FOR_EACH_TILE(rows, o_begin, o_end, R, C, FN, ...)                                          \
    for (size_t tiles_block = (o_begin); tiles_block < (o_end); tiles_block += NIBBLE_WEIGHT_BLOCK) {      \
        size_t tiles_end = tiles_block + NIBBLE_WEIGHT_BLOCK < (o_end) ? tiles_block + NIBBLE_WEIGHT_BLOCK \
                                                                         : (o_end);                        \
        size_t tiles_r = 0;                                                                                \
        for (; tiles_r + (R) <= (rows); tiles_r += (R)) {                                                  \
            size_t tiles_o = tiles_block;                                                                  \
            for (; tiles_o + (C) <= tiles_end; tiles_o += (C)) FN(__VA_ARGS__, tiles_r, tiles_o, R, C);    \
            for (; tiles_o < tiles_end; tiles_o++) FN(__VA_ARGS__, tiles_r, tiles_o, R, 1);                \
        }                                                                                                  \
        for (; tiles_r < (rows); tiles_r++) {                                                              \
            size_t tiles_o = tiles_block;                                                                  \
            for (; tiles_o + (C) <= tiles_end; tiles_o += (C)) FN(__VA_ARGS__, tiles_r, tiles_o, 1, C);    \
            for (; tiles_o < tiles_end; tiles_o++) FN(__VA_ARGS__, tiles_r, tiles_o, 1, 1);                \
        }                                                                                                  \
    }

/// How far ahead of the current weight read (bytes) streaming kernels ask for cache lines. Decode reads every
/// weight exactly once; the hardware prefetcher alone keeps too few lines in flight for one core to approach
/// the memory's read rate (measured: 6.3 → 10 GB/s per core for 4-bit codes, best at 2 KiB of 1–16 KiB).
#define NIBBLE_PREFETCH_BYTES 2048

/// Scratch of `need` floats: the caller's `stack` array (`capacity` floats) when it is large enough, else the heap
/// (aborting when that fails, as every kernel buffer does). Give it back with `nibble_release_scratch`.
static inline float *nibble_scratch_floats(float *stack, size_t capacity, size_t need) {
    float *buffer = need <= capacity ? stack : malloc(need * sizeof(float));
    if (!buffer) abort();
    return buffer;
}

static inline void nibble_release_scratch(float *buffer, const float *stack) {
    if (buffer != stack) free(buffer);
}

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

/// float32 to IEEE half bits, round to nearest even (overflow to infinity, NaN kept quiet).
static inline uint16_t nibble_float_to_half(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    int exponent = (int)((bits >> 23) & 0xFF);
    uint32_t mantissa = bits & 0x007FFFFFu;
    if (exponent == 0xFF) return sign | 0x7C00 | (mantissa ? 0x0200 | (uint16_t)(mantissa >> 13) : 0);
    int half_exponent = exponent - 127 + 15;
    if (half_exponent >= 0x1F) return sign | 0x7C00;
    if (half_exponent <= 0) {
        if (half_exponent < -10) return sign;
        mantissa |= 0x00800000u;
        uint32_t shift = (uint32_t)(14 - half_exponent);
        uint32_t truncated = mantissa >> shift, remainder = mantissa & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (remainder > halfway || (remainder == halfway && (truncated & 1))) truncated++;
        return sign | (uint16_t)truncated;
    }
    uint32_t result = (uint32_t)half_exponent << 10 | (mantissa >> 13);
    uint32_t remainder = mantissa & 0x1FFF;
    if (remainder > 0x1000 || (remainder == 0x1000 && (result & 1))) result++;  // a carry into the exponent is right
    return sign | (uint16_t)result;
}

/// float32 to bfloat16 bits, round to nearest even (NaN kept quiet).
static inline uint16_t nibble_float_to_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if (value != value) return (uint16_t)((bits | 0x00400000u) >> 16);
    return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
}

/// float32 rounded to bfloat16 (nearest even; NaN kept quiet) and widened back.
static inline float nibble_round_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if (value != value) {
        bits = (bits | 0x00400000u) & 0xFFFF0000u;
    } else {
        bits = (bits + 0x7FFFu + ((bits >> 16) & 1)) & 0xFFFF0000u;
    }
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

/// `value` rounded to `format` and widened back.
static inline float nibble_round(nibble_round_format format, float value) {
    switch (format) {
    case NIBBLE_ROUND_F16: return nibble_half_to_float(nibble_float_to_half(value));
    case NIBBLE_ROUND_BF16: return nibble_round_bf16(value);
    default: return value;
    }
}

/// Absmax of 4-bit block `b`, reconstructed from double quantization when needed. Multiply then add, never
/// fused, so it equals the reconstruction done elsewhere bit for bit.
static inline float nibble_4bit_block_scale(const nibble_4bit_weight *w, size_t b) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    if (w->absmax) return w->absmax[b];
    float scaled = w->absmax_code[w->absmax_codes[b]] * w->nested_absmax[b / w->nested_blocksize];
    return scaled + w->offset;
}

/// Walks the absmax of consecutive blocks without dividing.
typedef struct {
    size_t block;       // next block
    size_t group;       // its nested group (double quantization)
    size_t group_left;  // blocks left in that group
} scale_cursor;

static inline scale_cursor scale_cursor_at(const nibble_4bit_weight *w, size_t block) {
    scale_cursor c = {block, 0, 0};
    if (!w->absmax) {
        c.group = block / w->nested_blocksize;
        c.group_left = (c.group + 1) * w->nested_blocksize - block;
    }
    return c;
}

/// The absmax of the cursor's block (as `nibble_4bit_block_scale` computes it); moves to the next block.
static inline float scale_cursor_next(const nibble_4bit_weight *w, scale_cursor *c) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    size_t b = c->block++;
    if (w->absmax) return w->absmax[b];
    float scaled = w->absmax_code[w->absmax_codes[b]] * w->nested_absmax[c->group];
    if (--c->group_left == 0) {
        c->group++;
        c->group_left = w->nested_blocksize;
    }
    return scaled + w->offset;
}

/// The scalar remainder of a dot product, wrapping like the vector lanes.
static inline uint32_t nibble_i8_tail_dot(const int8_t *a, const int8_t *b, size_t i, size_t n) {
    uint32_t sum = 0;
    for (; i < n; i++) sum += (uint32_t)((int32_t)a[i] * (int32_t)b[i]);
    return sum;
}

/// Where one call's sums go: int32 as is, or dequantized to float32 when `yf` is set.
typedef struct {
    const float *row_scale, *col_scale;
    float k;
    int32_t *yi;
    float *yf;
    size_t ldy;
} nibble_i8_sink;

static inline void nibble_i8_put(const nibble_i8_sink *s, size_t r, size_t o, uint32_t sum) {
    if (s->yf) {
        s->yf[r * s->ldy + o] = ((float)(int32_t)sum * (s->row_scale[r] * s->col_scale[o])) * s->k;
    } else {
        s->yi[r * s->ldy + o] = (int32_t)sum;
    }
}

/// The body of `nibble_quantize_i8_rows`, compiled once per target so the vector build inlines rounding.
/// `m >= am` keeps the current maximum when m is NaN, as the reference's max does.
#define NIBBLE_QUANTIZE_I8_ROWS_BODY(x, rows, n, threshold, q, absmax, ROUND)                              \
    for (size_t r = 0; r < (rows); r++) {                                                                  \
        const float *xr = (x) + r * (n);                                                                   \
        int8_t *qr = (q) + r * (n);                                                                        \
        float am = 0;                                                                                      \
        for (size_t c = 0; c < (n); c++) {                                                                 \
            float v = xr[c];                                                                               \
            if ((threshold) > 0 && fabsf(v) >= (threshold)) v = 0;                                         \
            float m = fabsf(v);                                                                            \
            am = m >= am ? m : am;                                                                         \
        }                                                                                                  \
        (absmax)[r] = am;                                                                                  \
        float scale = (1 / am) * 127;                                                                      \
        for (size_t c = 0; c < (n); c++) {                                                                 \
            float v = xr[c];                                                                               \
            if ((threshold) > 0 && fabsf(v) >= (threshold)) v = 0;                                         \
            float t = ROUND(v * scale);                                                                    \
            qr[c] = t != t ? 0 : (int8_t)(t > 127 ? 127 : t < -127 ? -127 : t);                            \
        }                                                                                                  \
    }

void nibble_matmul_i8_scalar(const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n, size_t o_begin,
                             size_t o_end, const float *row_scale, const float *col_scale, float k, int32_t *yi,
                             float *yf, size_t ldy);
/// `nibble_i8_add_outliers` in portable C (the vector one's reference, and its path for the last outputs).
void nibble_i8_add_outliers_scalar(const float *xh, size_t rows, size_t n, const int32_t *cols, size_t count,
                                   const int8_t *cb, const float *scb, size_t o_begin, size_t o_end, float *y,
                                   size_t ldy);
void nibble_quantize_i8_rows_scalar(const float *x, size_t rows, size_t n, float threshold, int8_t *q,
                                     float *absmax);
void nibble_matmul_4bit_scalar(const nibble_4bit_weight *w, const float *x, size_t rows, size_t ldx, size_t o_begin,
                               size_t o_end, float *y, size_t ldy);

void nibble_matmul_scalar(nibble_weight_format format, const float *x, size_t rows, size_t ldx, const void *w,
                          size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy);
float nibble_dot_f32_scalar(const float *a, const float *b, size_t n);
void nibble_axpy_f32_scalar(float *y, float alpha, const float *x, size_t n);

#if defined(__x86_64__) || defined(__i386__)
void nibble_matmul_avx2(nibble_weight_format format, const float *x, size_t rows, size_t ldx, const void *w,
                        size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy);
void nibble_matmul_avx512(nibble_weight_format format, const float *x, size_t rows, size_t ldx, const void *w,
                          size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy);
float nibble_dot_f32_avx2(const float *a, const float *b, size_t n);
void nibble_axpy_f32_avx2(float *y, float alpha, const float *x, size_t n);
void nibble_f16_to_f32_avx2(const uint16_t *src, float *dst, size_t n);
/// `b_symmetric`: b holds no −128, which allows the faster exact u8×s8 product (see int8_avx2.c).
void nibble_matmul_i8_avx2(const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n, size_t o_begin,
                           size_t o_end, const float *row_scale, const float *col_scale, float k, int32_t *yi,
                           float *yf, size_t ldy, int b_symmetric);
/// Whether the AVX2 4-bit kernel reads its input reordered (`nibble_4bit_prepare_avx2`) for this layout.
int nibble_4bit_avx2_permutes(size_t n, size_t blocksize);
/// xp `(rows, n)` = x `(rows, ldx)` rounded to `compute` in the AVX2 decode order (a permuting layout).
void nibble_4bit_prepare_avx2(nibble_round_format compute, const float *x, size_t rows, size_t ldx, size_t n,
                              float *xp);
/// xp: prepared by `nibble_4bit_prepare_avx2` for a permuting layout, otherwise x rounded `(rows, n)`.
void nibble_matmul_4bit_avx2(const nibble_4bit_weight *w, const float *xp, size_t rows, size_t o_begin, size_t o_end,
                             float *y, size_t ldy);
/// Whether `nibble_matmul_4bit_avx512` takes this layout (otherwise the AVX2 kernel runs).
int nibble_4bit_avx512_handles(size_t n, size_t blocksize);
/// xp `(rows, n)` = x `(rows, ldx)` rounded to `compute` in the AVX-512 decode order.
void nibble_4bit_prepare_avx512(nibble_round_format compute, const float *x, size_t rows, size_t ldx, size_t n,
                                float *xp);
void nibble_matmul_4bit_avx512(const nibble_4bit_weight *w, const float *xp, size_t rows, size_t o_begin,
                               size_t o_end, float *y, size_t ldy);
void nibble_matmul_i8_avx512(const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n, size_t o_begin,
                             size_t o_end, const float *row_scale, const float *col_scale, float k, int32_t *yi,
                             float *yf, size_t ldy);
void nibble_quantize_i8_rows_avx2(const float *x, size_t rows, size_t n, float threshold, int8_t *q, float *absmax);
void nibble_i8_add_outliers_avx2(const float *xh, size_t rows, size_t n, const int32_t *cols, size_t count,
                                 const int8_t *cb, const float *scb, size_t o_begin, size_t o_end, float *y,
                                 size_t ldy);
size_t nibble_i8_prepare_avx2(const float *x, size_t rows, size_t n, float threshold, float *xh, int8_t *q,
                              float *absmax, int32_t *cols);
void nibble_round_f32_avx2(nibble_round_format format, const float *src, float *dst, size_t n);
#endif

#endif
