// The LLM.int8() work around the int8 product: the input's preparation (fp16 rounding, outlier columns,
// row-wise quantization) once per product, and the outlier columns' floating-point product per output range.
#include <stdlib.h>
#include "kernels_internal.h"

size_t nibble_i8_prepare(nibble_impl impl, const float *x, size_t rows, size_t n, float threshold, float *xh,
                         int8_t *q, float *absmax, int32_t *cols) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) return nibble_i8_prepare_avx2(x, rows, n, threshold, xh, q, absmax, cols);
#endif
    nibble_round_f32(impl, NIBBLE_ROUND_F16, x, xh, rows * n);
    size_t count = 0;
    if (threshold > 0) {
        // cols first holds one flag per column, then (compacted in place: index ≤ column) the flagged columns.
        for (size_t c = 0; c < n; c++) cols[c] = 0;
        for (size_t r = 0; r < rows; r++) {
            const float *xr = xh + r * n;
            for (size_t c = 0; c < n; c++) cols[c] |= fabsf(xr[c]) >= threshold;
        }
        for (size_t c = 0; c < n; c++)
            if (cols[c]) cols[count++] = (int32_t)c;
    }
    nibble_quantize_i8_rows(impl, xh, rows, n, threshold, q, absmax);
    // One row already has its outliers at 0; with several, every row's entry in an outlier column goes to the
    // floating-point path, as bitsandbytes' column split does.
    if (rows > 1)
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < count; j++) q[r * n + (size_t)cols[j]] = 0;
    return count;
}

void nibble_i8_add_outliers(nibble_impl impl, const float *xh, size_t rows, size_t n, const int32_t *cols, size_t count,
                            const int8_t *cb, const float *scb, size_t o_begin, size_t o_end, float *y, size_t ldy) {
#if defined(__x86_64__) || defined(__i386__)
    if (impl >= NIBBLE_IMPL_AVX2) {
        nibble_i8_add_outliers_avx2(xh, rows, n, cols, count, cb, scb, o_begin, o_end, y, ldy);
        return;
    }
#endif
    (void)impl;
    nibble_i8_add_outliers_scalar(xh, rows, n, cols, count, cb, scb, o_begin, o_end, y, ldy);
}

void nibble_i8_add_outliers_scalar(const float *xh, size_t rows, size_t n, const int32_t *cols, size_t count,
                                   const int8_t *cb, const float *scb, size_t o_begin, size_t o_end, float *y,
                                   size_t ldy) {
    // Products and sums rounded one at a time (never fused), in column order from zero, then added to y: the
    // order of the reference forward, so results match it bit for bit. Every input row keeps its own sum, so
    // the loop over rows (innermost, contiguous) vectorizes without changing any row's order.
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    if (count == 0 || o_begin >= o_end) return;
    float stack[4096];
    size_t need = count * rows + count + rows;
    float *buffer = nibble_scratch_floats(stack, 4096, need);
    float *xt = buffer;                 // (count, rows) the outlier inputs, column by column
    float *w = xt + count * rows;       // (count) one output's outlier weights
    float *acc = w + count;             // (rows) one output's sums
    for (size_t j = 0; j < count; j++)
        for (size_t r = 0; r < rows; r++) xt[j * rows + r] = xh[r * n + (size_t)cols[j]];
    const float inv127 = 1.0f / 127.0f;
    for (size_t o = o_begin; o < o_end; o++) {
        const int8_t *row = cb + o * n;
        for (size_t j = 0; j < count; j++) w[j] = ((float)row[cols[j]] * scb[o]) * inv127;
        for (size_t r = 0; r < rows; r++) acc[r] = 0;
        for (size_t j = 0; j < count; j++) {
            const float *xj = xt + j * rows;
            const float wj = w[j];
            for (size_t r = 0; r < rows; r++) acc[r] += xj[r] * wj;
        }
        for (size_t r = 0; r < rows; r++) y[r * ldy + o] += acc[r];
    }
    nibble_release_scratch(buffer, stack);
}
