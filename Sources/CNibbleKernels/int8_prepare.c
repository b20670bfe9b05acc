// The LLM.int8() work around the int8 product: the input's preparation (fp16 rounding, outlier columns,
// row-wise quantization) once per product, and the outlier columns' floating-point product per output range.
#include <stdlib.h>
#include "kernels_internal.h"

size_t nibble_i8_prepare(nibble_impl impl, const float *x, size_t rows, size_t n, float threshold, float *xh,
                         int8_t *q, float *absmax, int32_t *cols) {
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

void nibble_i8_add_outliers(const float *xh, size_t rows, size_t n, const int32_t *cols, size_t count,
                            const int8_t *cb, const float *scb, size_t o_begin, size_t o_end, float *y, size_t ldy) {
    // Products and sums rounded one at a time (never fused), in column order from zero, then added to y: the
    // order of the reference forward, so results match it bit for bit.
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    float stack[256];
    float *w = count <= 256 ? stack : malloc(count * sizeof(float));  // (count) one output's outlier weights
    if (!w) abort();
    const float inv127 = 1.0f / 127.0f;
    for (size_t o = o_begin; o < o_end; o++) {
        for (size_t j = 0; j < count; j++) w[j] = ((float)cb[o * n + (size_t)cols[j]] * scb[o]) * inv127;
        for (size_t r = 0; r < rows; r++) {
            const float *xr = xh + r * n;
            float acc = 0;
            for (size_t j = 0; j < count; j++) acc += xr[cols[j]] * w[j];
            y[r * ldy + o] += acc;
        }
    }
    if (w != stack) free(w);
}
