// Portable 4-bit matmul: decode a block of weight rows into a scratch buffer, then the portable float matmul.
#include <stdlib.h>
#include "kernels_internal.h"

/// dst `(count)` = the dequantized elements [begin, begin + count) of the flattened weight.
static void dequantize_span(const nibble_4bit_weight *w, size_t begin, size_t count, float *dst) {
    size_t end = begin + count;
    for (size_t e = begin; e < end;) {
        size_t b = e / w->blocksize;
        size_t stop = (b + 1) * w->blocksize < end ? (b + 1) * w->blocksize : end;
        float scale = nibble_4bit_block_scale(w, b);
        for (; e < stop; e++) {
            uint8_t byte = w->packed[e >> 1];
            unsigned q = (e & 1) ? byte & 0x0F : byte >> 4;
            dst[e - begin] = nibble_round(w->compute, w->code[q] * scale);
        }
    }
}

void nibble_matmul_4bit_scalar(const nibble_4bit_weight *w, const float *x, size_t rows, size_t ldx, size_t o_begin,
                               size_t o_end, float *y, size_t ldy) {
    size_t n = w->n;
    float *scratch = malloc(NIBBLE_WEIGHT_BLOCK * (n ? n : 1) * sizeof(float));  // (block rows, n)
    if (!scratch) abort();
    for (size_t block = o_begin; block < o_end; block += NIBBLE_WEIGHT_BLOCK) {
        size_t count = block + NIBBLE_WEIGHT_BLOCK < o_end ? NIBBLE_WEIGHT_BLOCK : o_end - block;
        dequantize_span(w, block * n, count * n, scratch);
        nibble_matmul_scalar(NIBBLE_WEIGHT_F32, x, rows, ldx, scratch, n, 0, count, y + block, ldy);
    }
    free(scratch);
}
