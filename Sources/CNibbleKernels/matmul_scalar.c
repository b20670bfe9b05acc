// Portable kernels: plain C that any compiler vectorizes for its baseline target (SSE2, NEON). Eight
// independent partial sums per dot product let it do so without reassociating floating-point additions.
#include "kernels_internal.h"

#define LANES 8

static inline float load_f32(const void *w, size_t i) { return ((const float *)w)[i]; }
static inline float load_f16(const void *w, size_t i) { return nibble_half_to_float(((const uint16_t *)w)[i]); }
static inline float load_bf16(const void *w, size_t i) { return nibble_bf16_to_float(((const uint16_t *)w)[i]); }

// One dot product per format, so the element conversion is known inside the loop and it vectorizes.
#define DEFINE_DOT(FMT)                                                                          \
    static float dot_##FMT(const float *x, const void *w, size_t n) {                            \
        float partial[LANES] = {0};                                                              \
        size_t i = 0;                                                                            \
        for (; i + LANES <= n; i += LANES) {                                                     \
            for (int k = 0; k < LANES; k++) partial[k] += x[i + k] * load_##FMT(w, i + k);       \
        }                                                                                        \
        float sum = 0;                                                                           \
        for (int k = 0; k < LANES; k++) sum += partial[k];                                       \
        for (; i < n; i++) sum += x[i] * load_##FMT(w, i);                                       \
        return sum;                                                                              \
    }
DEFINE_DOT(f32)
DEFINE_DOT(f16)
DEFINE_DOT(bf16)

static inline float dot_row(nibble_weight_format format, const float *x, const void *w, size_t n) {
    switch (format) {
    case NIBBLE_WEIGHT_F32: return dot_f32(x, w, n);
    case NIBBLE_WEIGHT_F16: return dot_f16(x, w, n);
    default: return dot_bf16(x, w, n);
    }
}

void nibble_matmul_scalar(nibble_weight_format format, const float *x, size_t rows, size_t ldx, const void *w,
                          size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy) {
    size_t element = format == NIBBLE_WEIGHT_F32 ? 4 : 2;
    for (size_t block = o_begin; block < o_end; block += NIBBLE_WEIGHT_BLOCK) {
        size_t block_end = block + NIBBLE_WEIGHT_BLOCK < o_end ? block + NIBBLE_WEIGHT_BLOCK : o_end;
        for (size_t r = 0; r < rows; r++) {
            for (size_t o = block; o < block_end; o++) {
                const void *row = (const char *)w + o * n * element;
                y[r * ldy + o] = dot_row(format, x + r * ldx, row, n);
            }
        }
    }
}

float nibble_dot_f32_scalar(const float *a, const float *b, size_t n) {
    return dot_row(NIBBLE_WEIGHT_F32, a, b, n);
}

void nibble_axpy_f32_scalar(float *y, float alpha, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
}
