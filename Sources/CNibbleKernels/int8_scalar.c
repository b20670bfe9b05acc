// Portable int8 matmul: the reference the vector kernel must match bit for bit.
#include "kernels_internal.h"

/// Stores one sum: int32 as is, or dequantized to float32 when `yf` is given.
static inline void store_sum(int32_t sum, size_t r, size_t o, const float *row_scale, const float *col_scale, float k,
                             int32_t *yi, float *yf, size_t ldy) {
    if (yf) {
        yf[r * ldy + o] = ((float)sum * (row_scale[r] * col_scale[o])) * k;
    } else {
        yi[r * ldy + o] = sum;
    }
}

void nibble_matmul_i8_scalar(const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n, size_t o_begin,
                             size_t o_end, const float *row_scale, const float *col_scale, float k, int32_t *yi,
                             float *yf, size_t ldy) {
    for (size_t block = o_begin; block < o_end; block += NIBBLE_WEIGHT_BLOCK) {
        size_t block_end = block + NIBBLE_WEIGHT_BLOCK < o_end ? block + NIBBLE_WEIGHT_BLOCK : o_end;
        for (size_t r = 0; r < rows; r++) {
            const int8_t *ar = a + r * lda;
            for (size_t o = block; o < block_end; o++) {
                const int8_t *br = b + o * n;
                // Unsigned arithmetic wraps on overflow, which signed int32 may not.
                uint32_t sum = 0;
                for (size_t i = 0; i < n; i++) sum += (uint32_t)((int32_t)ar[i] * (int32_t)br[i]);
                store_sum((int32_t)sum, r, o, row_scale, col_scale, k, yi, yf, ldy);
            }
        }
    }
}

void nibble_quantize_i8_rows_scalar(const float *x, size_t rows, size_t n, float threshold, int8_t *q,
                                     float *absmax) {
    NIBBLE_QUANTIZE_I8_ROWS_BODY(x, rows, n, threshold, q, absmax, rintf)
}
