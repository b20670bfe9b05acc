// AVX2 + FMA + F16C kernels. Only these functions are compiled for that target (via the attribute), so the
// rest of the library runs on any x86_64 and the dispatcher picks these only when the CPU has the features.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdlib.h>
#include "kernels_internal.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/// bfloat16 weights are widened into a float32 scratch block before the tiles only for prefill-sized inputs (more
/// than this many rows) with rows up to NIBBLE_WIDEN_MAX_N wide: there the block is reused often enough to repay
/// the extra pass, while at decode batch sizes (2–16 rows) widening in the tile ran 4–30% faster (SmolLM2 shapes,
/// weights streaming from memory). float16 weights are never widened: `vcvtph2ps` in the tile was as fast or
/// faster at every measured size (1.2× at 8 rows × 576 wide). Beyond NIBBLE_WIDEN_MAX_N the block no longer sits
/// near L1 beside the input rows (TinyLlama's 2,048-wide rows prefilled 10% slower widened).
#define NIBBLE_WIDEN_MIN_ROWS 16

/// Longest weight row (bytes) whose tiles prefetch the next tile's rows in one linear stream. At 2–16 input rows
/// this ran 10–40% faster than asking for the next block (SmolLM2 shapes, weights streaming from memory); with
/// 8 KiB rows (float32 × 2,048) three rows ahead no longer fit beside the tile in L1 and it ran 9% slower.
#define NIBBLE_LINEAR_PREFETCH_MAX_ROW 4096
#define NIBBLE_WIDEN_MAX_N 1024
#define INLINE static inline __attribute__((always_inline))

/// Eight weights at element `i` of a row, widened to float32.
AVX2 INLINE __m256 load8_f32(const void *w, size_t i) { return _mm256_loadu_ps((const float *)w + i); }
AVX2 INLINE __m256 load8_f16(const void *w, size_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
}
AVX2 INLINE __m256 load8_bf16(const void *w, size_t i) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
INLINE float load1_f32(const void *w, size_t i) { return ((const float *)w)[i]; }
INLINE float load1_f16(const void *w, size_t i) { return nibble_half_to_float(((const uint16_t *)w)[i]); }
INLINE float load1_bf16(const void *w, size_t i) { return nibble_bf16_to_float(((const uint16_t *)w)[i]); }

/// The four rows of a decode tile are contiguous, so the next tile starts where this one ends. Each step asks
/// for as many lines of the next tile as it consumes of this one (`bytes`, starting at `ahead`): requests stay
/// one tile ahead of the reads in one linear stream. Prefetching each row a fixed distance ahead instead mostly
/// lands inside the tile being read (rows of 576 halves are 1,152 bytes) and measured 25–35% slower when
/// weights stream from memory.
#define PREFETCH_AHEAD(ahead, bytes)                                                                         \
    for (size_t line = 0; line < (size_t)(bytes); line += 64) _mm_prefetch((const char *)(ahead) + line, _MM_HINT_T0)

/// The register tiles over weight rows [o_begin, o_end) of one cache block: 4 input rows × 3 weight rows, then
/// the block's last one or two weight rows; the last one to three input rows go as one shorter tile, so each
/// weight vector still serves all of them. A tile's shape never changes what it computes for one output (each
/// accumulator sums its own products in the same order), so results do not depend on where blocks, tiles or
/// a thread's range begin.
#define TILES_OVER_COLUMNS(r, R, o_begin, o_end, FN, ...)                                                   \
    do {                                                                                                     \
        size_t tiles_o = (o_begin);                                                                          \
        for (; tiles_o + 3 <= (o_end); tiles_o += 3) FN(__VA_ARGS__, r, tiles_o, R, 3);                      \
        if ((o_end) - tiles_o == 2) FN(__VA_ARGS__, r, tiles_o, R, 2);                                       \
        if ((o_end) - tiles_o == 1) FN(__VA_ARGS__, r, tiles_o, R, 1);                                       \
    } while (0)
#define TILES_OVER_BLOCK(rows, o_begin, o_end, FN, ...)                                                     \
    do {                                                                                                     \
        size_t tiles_r = 0;                                                                                  \
        for (; tiles_r + 4 <= (rows); tiles_r += 4) TILES_OVER_COLUMNS(tiles_r, 4, o_begin, o_end, FN, __VA_ARGS__); \
        switch ((rows) - tiles_r) {                                                                          \
        case 3: TILES_OVER_COLUMNS(tiles_r, 3, o_begin, o_end, FN, __VA_ARGS__); break;                      \
        case 2: TILES_OVER_COLUMNS(tiles_r, 2, o_begin, o_end, FN, __VA_ARGS__); break;                      \
        case 1: TILES_OVER_COLUMNS(tiles_r, 1, o_begin, o_end, FN, __VA_ARGS__); break;                      \
        default: break;                                                                                      \
        }                                                                                                    \
    } while (0)

/// `count` bfloat16 weights widened into dst `(count)` float32 in one pass (the rows of a block are contiguous; only
/// bfloat16 is ever widened, see NIBBLE_WIDEN_MIN_ROWS). Meanwhile the lines of the next block are requested into L2,
/// so they arrive while the tiles run on this one.
AVX2 INLINE void widen_bf16(const char *src, size_t count, float *dst) {
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        _mm_prefetch(src + (count + i) * 2, _MM_HINT_T1);
        for (int k = 0; k < 32; k += 8) _mm256_storeu_ps(dst + i + k, load8_bf16(src, i + k));
    }
    for (; i < count; i++) dst[i] = load1_bf16(src, i);
}

AVX2 INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// A register tile: R input rows × C weight rows, R·C accumulators over the whole row length. Each weight
// vector is widened once and used R times; each input vector is loaded once and used C times. R and C are
// compile-time constants at every call site, so the accumulator arrays live in registers. With `ahead` set,
// the first tile of input rows asks for weight lines before they are needed, so weights streaming from memory
// arrive in time: for rows up to NIBBLE_LINEAR_PREFETCH_MAX_ROW bytes, the next C rows (the next tile's), as many
// bytes per step as the step consumes, like the decode path; for longer rows the lines `ahead` bytes further
// (the next block), one request per line.
#define DEFINE_TILE(FMT, BYTES, WIDEN)                                                                                     \
    AVX2 INLINE void tile_##FMT(const float *x, size_t ldx, const char *w, size_t ldw_bytes, size_t n, float *y,\
                                size_t ldy, size_t ahead, size_t r0, size_t o0, const int R, const int C) {    \
        x += r0 * ldx;                                                                                         \
        w += o0 * ldw_bytes;                                                                                   \
        y += r0 * ldy + o0;                                                                                     \
        __m256 acc[4][4];                                                                                       \
        for (int r = 0; r < R; r++)                                                                             \
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();                                        \
        size_t i = 0;                                                                                           \
        for (; i + 8 <= n; i += 8) {                                                                            \
            if (ahead && r0 == 0) {                                                                             \
                if (ldw_bytes <= NIBBLE_LINEAR_PREFETCH_MAX_ROW)                                                \
                    PREFETCH_AHEAD(w + C * ldw_bytes + C * i * (BYTES), C * 8 * (BYTES));                       \
                else if ((i * (BYTES)) % 64 == 0)                                                               \
                    for (int c = 0; c < C; c++) _mm_prefetch(w + c * ldw_bytes + i * (BYTES) + ahead, _MM_HINT_T0); \
            }                                                                                                   \
            __m256 wv[4];                                                                                       \
            for (int c = 0; c < C; c++) wv[c] = load8_##FMT(w + c * ldw_bytes, i);                              \
            for (int r = 0; r < R; r++) {                                                                       \
                __m256 xv = _mm256_loadu_ps(x + r * ldx + i);                                                   \
                for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);                  \
            }                                                                                                   \
        }                                                                                                       \
        for (int r = 0; r < R; r++) {                                                                           \
            for (int c = 0; c < C; c++) {                                                                       \
                float sum = hsum(acc[r][c]);                                                                    \
                for (size_t j = i; j < n; j++) sum += x[r * ldx + j] * load1_##FMT(w + c * ldw_bytes, j);       \
                y[r * ldy + c] = sum;                                                                           \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
    /* Decode path: one input row against four weight rows, unrolled twice for eight FMA chains. */           \
    AVX2 INLINE void row4_##FMT(const float *x, const char *w, size_t ldw_bytes, size_t n, float *y) {          \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;         \
        const char *w0 = w, *w1 = w + ldw_bytes, *w2 = w + 2 * ldw_bytes, *w3 = w + 3 * ldw_bytes;              \
        size_t i = 0;                                                                                           \
        for (; i + 16 <= n; i += 16) {                                                                          \
            PREFETCH_AHEAD(w + 4 * ldw_bytes + 4 * i * (BYTES), 4 * 16 * (BYTES));                              \
            __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);                                \
            a0 = _mm256_fmadd_ps(x0, load8_##FMT(w0, i), a0);                                                   \
            a1 = _mm256_fmadd_ps(x0, load8_##FMT(w1, i), a1);                                                   \
            a2 = _mm256_fmadd_ps(x0, load8_##FMT(w2, i), a2);                                                   \
            a3 = _mm256_fmadd_ps(x0, load8_##FMT(w3, i), a3);                                                   \
            b0 = _mm256_fmadd_ps(x1, load8_##FMT(w0, i + 8), b0);                                               \
            b1 = _mm256_fmadd_ps(x1, load8_##FMT(w1, i + 8), b1);                                               \
            b2 = _mm256_fmadd_ps(x1, load8_##FMT(w2, i + 8), b2);                                               \
            b3 = _mm256_fmadd_ps(x1, load8_##FMT(w3, i + 8), b3);                                               \
        }                                                                                                       \
        for (; i + 8 <= n; i += 8) {                                                                            \
            __m256 x0 = _mm256_loadu_ps(x + i);                                                                 \
            a0 = _mm256_fmadd_ps(x0, load8_##FMT(w0, i), a0);                                                   \
            a1 = _mm256_fmadd_ps(x0, load8_##FMT(w1, i), a1);                                                   \
            a2 = _mm256_fmadd_ps(x0, load8_##FMT(w2, i), a2);                                                   \
            a3 = _mm256_fmadd_ps(x0, load8_##FMT(w3, i), a3);                                                   \
        }                                                                                                       \
        float s0 = hsum(_mm256_add_ps(a0, b0)), s1 = hsum(_mm256_add_ps(a1, b1));                              \
        float s2 = hsum(_mm256_add_ps(a2, b2)), s3 = hsum(_mm256_add_ps(a3, b3));                              \
        for (; i < n; i++) {                                                                                    \
            s0 += x[i] * load1_##FMT(w0, i);                                                                    \
            s1 += x[i] * load1_##FMT(w1, i);                                                                    \
            s2 += x[i] * load1_##FMT(w2, i);                                                                    \
            s3 += x[i] * load1_##FMT(w3, i);                                                                    \
        }                                                                                                       \
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;                                                             \
    }                                                                                                           \
    /* Several rows: blocks of weight rows, each widened once into a float32 scratch block (bfloat16, see      \
       NIBBLE_WIDEN_MIN_ROWS) or read in place; then register tiles over the block. */                        \
    AVX2 static void matmul_##FMT(const float *x, size_t rows, size_t ldx, const char *w, size_t ldw_bytes,     \
                                  size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy) {               \
        if (rows == 1) {                                                                                        \
            size_t o = o_begin;                                                                                 \
            for (; o + 4 <= o_end; o += 4) row4_##FMT(x, w + o * ldw_bytes, ldw_bytes, n, y + o);               \
            for (; o < o_end; o++) tile_##FMT(x, ldx, w, ldw_bytes, n, y, ldy, 0, 0, o, 1, 1);                   \
            return;                                                                                             \
        }                                                                                                       \
        if (!(WIDEN) || rows <= NIBBLE_WIDEN_MIN_ROWS || n > NIBBLE_WIDEN_MAX_N) {                             \
            for (size_t block = o_begin; block < o_end; block += NIBBLE_TILE_BLOCK) {                           \
                size_t end = block + NIBBLE_TILE_BLOCK < o_end ? block + NIBBLE_TILE_BLOCK : o_end;             \
                TILES_OVER_BLOCK(rows, block, end, tile_##FMT, x, ldx, w, ldw_bytes, n, y, ldy,                 \
                                 NIBBLE_TILE_BLOCK * ldw_bytes);                                                \
            }                                                                                                   \
            return;                                                                                             \
        }                                                                                                       \
        float *scratch = aligned_alloc(64, (NIBBLE_TILE_BLOCK * n * sizeof(float) + 63) / 64 * 64);  /* (block rows, n) */ \
        if (!scratch) abort();                                                                                  \
        for (size_t block = o_begin; block < o_end; block += NIBBLE_TILE_BLOCK) {                               \
            size_t count = block + NIBBLE_TILE_BLOCK < o_end ? NIBBLE_TILE_BLOCK : o_end - block;               \
            widen_bf16(w + block * ldw_bytes, count * n, scratch);                                             \
            TILES_OVER_BLOCK(rows, 0, count, tile_f32, x, ldx, (const char *)scratch, n * sizeof(float), n,     \
                             y + block, ldy, 0);                                                                \
        }                                                                                                       \
        free(scratch);                                                                                          \
    }

DEFINE_TILE(f32, 4, 0)
DEFINE_TILE(f16, 2, 0)
DEFINE_TILE(bf16, 2, 1)

void nibble_matmul_avx2(nibble_weight_format format, const float *x, size_t rows, size_t ldx, const void *w,
                        size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy) {
    const char *bytes = (const char *)w;
    switch (format) {
    case NIBBLE_WEIGHT_F32: matmul_f32(x, rows, ldx, bytes, n * 4, n, o_begin, o_end, y, ldy); break;
    case NIBBLE_WEIGHT_F16: matmul_f16(x, rows, ldx, bytes, n * 2, n, o_begin, o_end, y, ldy); break;
    case NIBBLE_WEIGHT_BF16: matmul_bf16(x, rows, ldx, bytes, n * 2, n, o_begin, o_end, y, ldy); break;
    }
}

AVX2 float nibble_dot_f32_avx2(const float *a, const float *b, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
    float sum = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

AVX2 void nibble_axpy_f32_avx2(float *y, float alpha, const float *x, size_t n) {
    __m256 va = _mm256_set1_ps(alpha);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}

AVX2 void nibble_f16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_f16(src, i));
    for (; i < n; i++) dst[i] = nibble_half_to_float(src[i]);
}
#endif
