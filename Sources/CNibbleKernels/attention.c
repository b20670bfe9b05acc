// Attention over a paged KV cache, the inner loop of `pagedCausalAttention`.
//
// One call handles a tile: a few consecutive query rows of one sequence × query heads that share one KV head
// (grouped-query attention). Every query of the tile is a lane, and each key and value of the tile's blocks is
// read once for all of them instead of once per (row, head): a 1,000-token prefill makes half a million
// (row, position) pairs per head and layer.
//
// Keys are stored transposed in each block, `(kv_dim, block_size)`, so one element of every position of a
// block is one contiguous vector. Many lanes (prefill): the queries are transposed once into
// `qt (head_dim, lanes)` and a block's scores come out as a small matmul, each key element broadcast and
// multiplied into every lane. Few lanes (a decoding row): positions in the lanes instead, each query element
// broadcast against a vector of keys. Either way a score is the same sequential chain of fused multiply-adds
// over head_dim, with no horizontal sums, so a query gets the same bits in either layout.
//
// Online softmax, one cache block at a time, per lane: the block's scores, its maximum folded into the
// running one (what earlier blocks added rescaled by exp(old − new)), then the values weighted by
// exp(score − max). A lane's result depends only on its own query and the positions it sees, never on the
// other lanes: positions it does not see get weight exactly 0 and leave its sums unchanged, so a row gives the
// same bits in any tile (a batched step equals the single path, a chunked prefill the whole one).
//
// Rounding differs from a plain per-position walk only in order: each score is one sequential chain over
// head_dim, and the vector path's exponential is a polynomial within 1 ulp of exp (nibble_exp_f32).
#include "kernels_internal.h"
#include "exponential.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/// The pieces of the tile's scratch (see nibble_attend_scratch_floats); every piece starts on a 32-byte
/// multiple from the base and `lp` is the lane count rounded up to whole vectors of 8.
typedef struct {
    size_t lp;
    float *qt;        // (head_dim, lp) queries, transposed; padding lanes 0
    float *kf;        // (head_dim, block_size) one block's keys (transposed, as stored) widened to float32
    float *vf;        // (block_size, head_dim) one block's values widened to float32
    float *s;         // (block_size, lp) scores, then softmax weights; (FEW_CHUNK, FEW_LANES, FEW_BLOCK) with few lanes
    float *o;         // (lanes, head_dim) unnormalised outputs
    float *m;         // (lp) running maxima
    float *l;         // (lp) running sums of weights
    float *c;         // (lp) this block's correction factors exp(old max − new max)
    int32_t *first;   // (lp) first position each lane sees; padding lanes see none
    int32_t *end;     // (lp) one past the last position each lane sees
} tile_scratch;

/// Tiles of at most FEW_LANES queries over blocks of FEW_BLOCK positions take the few-lanes path (AVX2).
#define FEW_LANES 8
#define FEW_BLOCK 16
/// Blocks scored together on the few-lanes path: a score is a chain of head_dim dependent multiply-adds, so
/// one lane needs several blocks' vectors in flight to keep both FMA units busy.
#define FEW_CHUNK 4

static inline size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

size_t nibble_attend_scratch_floats(size_t lanes, size_t head_dim, size_t block_size) {
    size_t lp = round8(lanes);
    size_t scores = block_size * lp > FEW_CHUNK * FEW_LANES * FEW_BLOCK ? block_size * lp : FEW_CHUNK * FEW_LANES * FEW_BLOCK;
    return round8(head_dim * lp) + 2 * round8(block_size * head_dim) + scores + round8(lanes * head_dim)
        + 5 * lp;
}

static tile_scratch carve(float *scratch, size_t lanes, size_t head_dim, size_t block_size) {
    tile_scratch t;
    t.lp = round8(lanes);
    t.qt = scratch;
    t.kf = t.qt + round8(head_dim * t.lp);
    t.vf = t.kf + round8(block_size * head_dim);
    t.s = t.vf + round8(block_size * head_dim);
    size_t scores = block_size * t.lp > FEW_CHUNK * FEW_LANES * FEW_BLOCK ? block_size * t.lp : FEW_CHUNK * FEW_LANES * FEW_BLOCK;
    t.o = t.s + scores;
    t.m = t.o + round8(lanes * head_dim);
    t.l = t.m + t.lp;
    t.c = t.l + t.lp;
    t.first = (int32_t *)(t.c + t.lp);
    t.end = t.first + t.lp;
    return t;
}

static inline float kv_load(nibble_weight_format format, const char *row, size_t i) {
    switch (format) {
    case NIBBLE_WEIGHT_F32: return ((const float *)row)[i];
    case NIBBLE_WEIGHT_F16: return nibble_half_to_float(((const uint16_t *)row)[i]);
    default: return nibble_bf16_to_float(((const uint16_t *)row)[i]);
    }
}

#if defined(__x86_64__) || defined(__i386__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/// Eight elements at `row[i]` widened to float32 (`format` is a constant where this inlines).
AVX2 INLINE __m256 load8(nibble_weight_format format, const void *row, size_t i) {
    switch (format) {
    case NIBBLE_WEIGHT_F32: return _mm256_loadu_ps((const float *)row + i);
    case NIBBLE_WEIGHT_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    default: {
        __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
    }
}
#endif


// MARK: - Portable pieces

/// Widens rows [0, n) of `count` elements (one every `stride` bytes) into `dst (n, count)`.
static void widen_rows_scalar(nibble_weight_format format, const char *src, size_t stride, size_t n, size_t count,
                              float *dst) {
    for (size_t s = 0; s < n; s++)
        for (size_t d = 0; d < count; d++) dst[s * count + d] = kv_load(format, src + s * stride, d);
}

/// s[p][lane] = scale · Σ_d qt[d][lane] · kt[d][p] for p in [0, n) (kt rows `kt_stride` floats apart).
static void scores_scalar(const tile_scratch *t, size_t head_dim, const float *kt, size_t kt_stride, size_t n,
                          float scale) {
    for (size_t p = 0; p < n; p++) {
        float *row = t->s + p * t->lp;
        for (size_t lane = 0; lane < t->lp; lane++) row[lane] = 0;
        for (size_t d = 0; d < head_dim; d++) {
            float key = kt[d * kt_stride + p];
            const float *qd = t->qt + d * t->lp;
            for (size_t lane = 0; lane < t->lp; lane++) row[lane] += qd[lane] * key;
        }
        for (size_t lane = 0; lane < t->lp; lane++) row[lane] *= scale;
    }
}

/// Masks, folds the block's maxima into the running ones and turns scores into weights; sets c and l.
static void softmax_scalar(const tile_scratch *t, size_t n, int32_t position) {
    for (size_t lane = 0; lane < t->lp; lane++) {
        float block_max = -INFINITY;
        for (size_t p = 0; p < n; p++) {
            float *score = t->s + p * t->lp + lane;
            int32_t at = position + (int32_t)p;
            if (at < t->first[lane] || at >= t->end[lane]) *score = -INFINITY;
            block_max = *score > block_max ? *score : block_max;
        }
        float max = t->m[lane] > block_max ? t->m[lane] : block_max;
        float safe = max == -INFINITY ? 0 : max;  // a lane that has seen nothing yet keeps weights of exactly 0
        t->c[lane] = nibble_exp_scalar(t->m[lane] - safe);
        float sum = 0;
        for (size_t p = 0; p < n; p++) {
            float *score = t->s + p * t->lp + lane;
            *score = nibble_exp_scalar(*score - safe);
            sum += *score;
        }
        t->l[lane] = t->l[lane] * t->c[lane] + sum;
        t->m[lane] = max;
    }
}

/// o[lane] = o[lane] · c[lane] + Σ_p s[p][lane] · v[p] for every real lane.
static void accumulate_scalar(const tile_scratch *t, size_t lanes, size_t head_dim, const float *v, size_t v_stride,
                              size_t n) {
    for (size_t lane = 0; lane < lanes; lane++) {
        float *o = t->o + lane * head_dim;
        float c = t->c[lane];
        if (c != 1)
            for (size_t d = 0; d < head_dim; d++) o[d] *= c;
        for (size_t p = 0; p < n; p++) {
            float w = t->s[p * t->lp + lane];
            for (size_t d = 0; d < head_dim; d++) o[d] += w * v[p * v_stride + d];
        }
    }
}

// MARK: - AVX2 pieces

#if defined(__x86_64__) || defined(__i386__)
AVX2 static void widen_rows_avx2(nibble_weight_format format, const char *src, size_t stride, size_t n,
                                 size_t count, float *dst) {
    const size_t vec = count & ~(size_t)7;
    for (size_t s = 0; s < n; s++) {
        const uint16_t *row = (const uint16_t *)(src + s * stride);
        float *out = dst + s * count;
        if (format == NIBBLE_WEIGHT_F16) {
            for (size_t d = 0; d < vec; d += 8)
                _mm256_storeu_ps(out + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + d))));
        } else {
            for (size_t d = 0; d < vec; d += 8) {
                __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + d)));
                _mm256_storeu_ps(out + d, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
            }
        }
        for (size_t d = vec; d < count; d++) out[d] = kv_load(format, (const char *)row, d);
    }
}

/// Scores of P positions × NV vectors of lanes (starting at lane vector v0), accumulators in registers.
AVX2 INLINE void scores_tile_avx2(const tile_scratch *t, size_t head_dim, const float *kt, size_t kt_stride,
                                  size_t p0, size_t v0, __m256 scale, const int P, const int NV) {
    __m256 acc[8][4];
    for (int p = 0; p < P; p++)
        for (int v = 0; v < NV; v++) acc[p][v] = _mm256_setzero_ps();
    const float *qt = t->qt + v0 * 8;
    const float *key = kt + p0;
    for (size_t d = 0; d < head_dim; d++) {
        __m256 q[4];
        for (int v = 0; v < NV; v++) q[v] = _mm256_load_ps(qt + d * t->lp + v * 8);
        for (int p = 0; p < P; p++) {
            __m256 kb = _mm256_broadcast_ss(key + d * kt_stride + p);
            for (int v = 0; v < NV; v++) acc[p][v] = _mm256_fmadd_ps(q[v], kb, acc[p][v]);
        }
    }
    for (int p = 0; p < P; p++)
        for (int v = 0; v < NV; v++) _mm256_store_ps(t->s + (p0 + p) * t->lp + (v0 + v) * 8, _mm256_mul_ps(acc[p][v], scale));
}

/// Positions per register tile for NV lane vectors: P × NV accumulators, NV query vectors and a broadcast key
/// element fit the 16 registers without spilling.
#define SCORES_FOR_VECTORS(NV, P)                                                                              \
    do {                                                                                                       \
        size_t p = 0;                                                                                          \
        for (; p + (P) <= n; p += (P)) scores_tile_avx2(t, head_dim, kt, kt_stride, p, v0, scale8, (P), (NV)); \
        for (; p < n; p++) scores_tile_avx2(t, head_dim, kt, kt_stride, p, v0, scale8, 1, (NV));               \
    } while (0)

/// s[p][lane] = scale · Σ_d qt[d][lane] · kt[d][p] for p in [0, n) (kt rows `kt_stride` floats apart).
AVX2 static void scores_avx2(const tile_scratch *t, size_t head_dim, const float *kt, size_t kt_stride, size_t n,
                             float scale) {
    const __m256 scale8 = _mm256_set1_ps(scale);
    const size_t nv = t->lp / 8;
    for (size_t v0 = 0; v0 < nv; v0 += 4) {
        switch (nv - v0) {
        case 1: SCORES_FOR_VECTORS(1, 8); break;
        case 2: SCORES_FOR_VECTORS(2, 5); break;
        case 3: SCORES_FOR_VECTORS(3, 3); break;
        default: SCORES_FOR_VECTORS(4, 2); break;
        }
    }
}

/// Masks (when `masked`: some lane does not see every position of the block), folds the block's maxima into
/// the running ones and turns scores into weights; sets c and l.
AVX2 static void softmax_avx2(const tile_scratch *t, size_t n, int32_t position, int masked) {
    const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
    for (size_t v = 0; v < t->lp; v += 8) {
        const __m256i first = _mm256_load_si256((const __m256i *)(t->first + v));
        const __m256i end = _mm256_load_si256((const __m256i *)(t->end + v));
        __m256 block_max = minus_inf;
        for (size_t p = 0; p < n && !masked; p++) block_max = _mm256_max_ps(block_max, _mm256_load_ps(t->s + p * t->lp + v));
        for (size_t p = 0; p < n && masked; p++) {
            __m256i at = _mm256_set1_epi32(position + (int32_t)p);
            __m256i hidden = _mm256_or_si256(_mm256_cmpgt_epi32(first, at), _mm256_cmpgt_epi32(_mm256_add_epi32(at, _mm256_set1_epi32(1)), end));
            __m256 score = _mm256_blendv_ps(_mm256_load_ps(t->s + p * t->lp + v), minus_inf, _mm256_castsi256_ps(hidden));
            _mm256_store_ps(t->s + p * t->lp + v, score);
            block_max = _mm256_max_ps(block_max, score);
        }
        __m256 old = _mm256_load_ps(t->m + v);
        __m256 max = _mm256_max_ps(old, block_max);
        // A lane that has seen nothing yet subtracts 0, so its weights and correction are exactly 0.
        __m256 safe = _mm256_blendv_ps(max, _mm256_setzero_ps(), _mm256_cmp_ps(max, minus_inf, _CMP_EQ_OQ));
        __m256 c = nibble_exp8(_mm256_sub_ps(old, safe));
        // The block's weights summed on their own, then folded in: blocks do not wait on each other's sums.
        __m256 sum = _mm256_setzero_ps();
        for (size_t p = 0; p < n; p++) {
            __m256 w = nibble_exp8(_mm256_sub_ps(_mm256_load_ps(t->s + p * t->lp + v), safe));
            _mm256_store_ps(t->s + p * t->lp + v, w);
            sum = _mm256_add_ps(sum, w);
        }
        _mm256_store_ps(t->l + v, _mm256_add_ps(_mm256_mul_ps(_mm256_load_ps(t->l + v), c), sum));
        _mm256_store_ps(t->m + v, max);
        _mm256_store_ps(t->c + v, c);
    }
}

/// o[lane0 + l][d0 + 8·j] += Σ_p w[p · w_p + lane · w_lane] · v[p][...] for NL lanes × ND vectors of head_dim;
/// values in `format`, rows `v_stride` elements apart.
AVX2 INLINE void accumulate_tile_avx2(const tile_scratch *t, const float *w, size_t w_p, size_t w_lane,
                                      size_t head_dim, nibble_weight_format format, const void *v, size_t v_stride,
                                      size_t n, size_t lane0, size_t d0, const int NL, const int ND) {
    __m256 acc[4][8];
    for (int l = 0; l < NL; l++)
        for (int j = 0; j < ND; j++) acc[l][j] = _mm256_loadu_ps(t->o + (lane0 + l) * head_dim + d0 + j * 8);
    for (size_t p = 0; p < n; p++) {
        __m256 weight[4];
        for (int l = 0; l < NL; l++) weight[l] = _mm256_broadcast_ss(w + p * w_p + (lane0 + l) * w_lane);
        for (int j = 0; j < ND; j++) {
            __m256 value = load8(format, v, p * v_stride + d0 + j * 8);
            for (int l = 0; l < NL; l++) acc[l][j] = _mm256_fmadd_ps(weight[l], value, acc[l][j]);
        }
    }
    for (int l = 0; l < NL; l++)
        for (int j = 0; j < ND; j++) _mm256_storeu_ps(t->o + (lane0 + l) * head_dim + d0 + j * 8, acc[l][j]);
}

// Few lanes (a decoding row: one row × the heads of a group) would leave most of each vector empty in the
// lane layout, so the scores are computed the other way round: positions in the lanes, each query element
// broadcast against a row of the transposed keys. Every score is still the same sequential fused multiply-add
// chain over head_dim, and the softmax below the same per-lane arithmetic, so a query gets the same bits in
// either layout.


/// Scores of block i of the chunk, lane l: `(FEW_BLOCK)` floats.
static inline float *few_scores(const tile_scratch *t, size_t i, size_t lane) {
    return t->s + (i * FEW_LANES + lane) * FEW_BLOCK;
}

/// few_scores(i, lane)[p] = scale · Σ_d qt[d][lane] · kt_i[d][p] for NL lanes from lane0 × NB blocks from i0.
AVX2 INLINE void scores_few_tile_avx2(const tile_scratch *t, size_t head_dim, nibble_weight_format format,
                                      const void *const *kt, size_t i0, size_t lane0, __m256 scale, const int NL,
                                      const int NB) {
    __m256 acc[4][2 * FEW_CHUNK];
    for (int l = 0; l < NL; l++)
        for (int j = 0; j < 2 * NB; j++) acc[l][j] = _mm256_setzero_ps();
    for (size_t d = 0; d < head_dim; d++) {
        __m256 qb[4];
        for (int l = 0; l < NL; l++) qb[l] = _mm256_broadcast_ss(t->qt + d * t->lp + lane0 + l);
        for (int j = 0; j < 2 * NB; j++) {
            __m256 k = load8(format, kt[i0 + j / 2], d * FEW_BLOCK + (j % 2) * 8);
            for (int l = 0; l < NL; l++) acc[l][j] = _mm256_fmadd_ps(qb[l], k, acc[l][j]);
        }
    }
    for (int l = 0; l < NL; l++)
        for (int i = 0; i < NB; i++) {
            float *out = few_scores(t, i0 + i, lane0 + l);
            _mm256_store_ps(out, _mm256_mul_ps(acc[l][2 * i], scale));
            _mm256_store_ps(out + 8, _mm256_mul_ps(acc[l][2 * i + 1], scale));
        }
}

/// Lanes × blocks per register tile: at least eight independent chains where the tile allows, at most
/// sixteen accumulators and key vectors together.
#define SCORES_FEW_FOR_LANES(NL, NB)                                                                           \
    do {                                                                                                       \
        size_t i = 0;                                                                                          \
        for (; i + (NB) <= blocks; i += (NB))                                                                  \
            scores_few_tile_avx2(t, head_dim, format, kt, i, lane, scale8, (NL), (NB));                        \
        for (; i < blocks; i++) scores_few_tile_avx2(t, head_dim, format, kt, i, lane, scale8, (NL), 1);       \
    } while (0)

AVX2 INLINE void scores_few_lanes_avx2(const tile_scratch *t, size_t lanes, size_t head_dim,
                                       nibble_weight_format format, const void *const *kt, size_t blocks,
                                       __m256 scale8) {
    size_t lane = 0;
    for (; lane + 4 <= lanes; lane += 4) SCORES_FEW_FOR_LANES(4, 1);
    switch (lanes - lane) {
    case 3: SCORES_FEW_FOR_LANES(3, 1); break;
    case 2: SCORES_FEW_FOR_LANES(2, 2); break;
    case 1: SCORES_FEW_FOR_LANES(1, 4); break;
    default: break;
    }
}

/// few_scores(i, lane) for `blocks` blocks of transposed keys `kt[i] (head_dim, FEW_BLOCK)` in `format`,
/// half-precision keys widened in registers.
AVX2 static void scores_few_avx2(const tile_scratch *t, size_t lanes, size_t head_dim, nibble_weight_format format,
                                 const void *const *kt, size_t blocks, float scale) {
    const __m256 scale8 = _mm256_set1_ps(scale);
    switch (format) {
    case NIBBLE_WEIGHT_F32: scores_few_lanes_avx2(t, lanes, head_dim, NIBBLE_WEIGHT_F32, kt, blocks, scale8); break;
    case NIBBLE_WEIGHT_F16: scores_few_lanes_avx2(t, lanes, head_dim, NIBBLE_WEIGHT_F16, kt, blocks, scale8); break;
    case NIBBLE_WEIGHT_BF16: scores_few_lanes_avx2(t, lanes, head_dim, NIBBLE_WEIGHT_BF16, kt, blocks, scale8); break;
    }
}

AVX2 INLINE float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/// softmax_avx2 for the scores of a whole block laid out few_scores(block, lane)[slot] (slot 0 at `position`);
/// weights are summed in position order from the first slot any lane sees (`s0`), as the lane layout sums them.
AVX2 static void softmax_few_avx2(const tile_scratch *t, size_t block, size_t lanes, int32_t position, size_t s0,
                                  size_t n, int masked) {
    const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
    const __m256i slots_lo = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i at_lo = _mm256_add_epi32(_mm256_set1_epi32(position), slots_lo);
    const __m256i at_hi = _mm256_add_epi32(at_lo, _mm256_set1_epi32(8));
    float block_max[FEW_LANES] __attribute__((aligned(32)));
    for (size_t lane = 0; lane < FEW_LANES; lane++) {
        if (lane >= lanes) {
            block_max[lane] = -INFINITY;
            continue;
        }
        const __m256i first = _mm256_set1_epi32(t->first[lane]), end = _mm256_set1_epi32(t->end[lane]);
        float *row = few_scores(t, block, lane);
        __m256 lo = _mm256_load_ps(row), hi = _mm256_load_ps(row + 8);
        if (masked) {
            __m256i hidden_lo = _mm256_or_si256(_mm256_cmpgt_epi32(first, at_lo), _mm256_cmpgt_epi32(_mm256_add_epi32(at_lo, _mm256_set1_epi32(1)), end));
            __m256i hidden_hi = _mm256_or_si256(_mm256_cmpgt_epi32(first, at_hi), _mm256_cmpgt_epi32(_mm256_add_epi32(at_hi, _mm256_set1_epi32(1)), end));
            lo = _mm256_blendv_ps(lo, minus_inf, _mm256_castsi256_ps(hidden_lo));
            hi = _mm256_blendv_ps(hi, minus_inf, _mm256_castsi256_ps(hidden_hi));
            _mm256_store_ps(row, lo);
            _mm256_store_ps(row + 8, hi);
        }
        block_max[lane] = hmax8(_mm256_max_ps(lo, hi));
    }
    __m256 old = _mm256_load_ps(t->m);
    __m256 max = _mm256_max_ps(old, _mm256_load_ps(block_max));
    __m256 safe = _mm256_blendv_ps(max, _mm256_setzero_ps(), _mm256_cmp_ps(max, minus_inf, _CMP_EQ_OQ));
    __m256 c = nibble_exp8(_mm256_sub_ps(old, safe));
    float sums[FEW_LANES] __attribute__((aligned(32))), safes[FEW_LANES] __attribute__((aligned(32)));
    _mm256_store_ps(sums, _mm256_mul_ps(_mm256_load_ps(t->l), c));
    _mm256_store_ps(safes, safe);
    _mm256_store_ps(t->m, max);
    _mm256_store_ps(t->c, c);
    for (size_t lane = 0; lane < lanes; lane++) {
        float *row = few_scores(t, block, lane);
        __m256 subtract = _mm256_set1_ps(safes[lane]);
        _mm256_store_ps(row, nibble_exp8(_mm256_sub_ps(_mm256_load_ps(row), subtract)));
        _mm256_store_ps(row + 8, nibble_exp8(_mm256_sub_ps(_mm256_load_ps(row + 8), subtract)));
        float sum = 0;
        for (size_t p = s0; p < s0 + n; p++) sum += row[p];
        t->l[lane] = sums[lane] + sum;
    }
}

/// NL lanes × ND vectors of head_dim per register tile: eight independent chains where the lanes allow, at
/// most sixteen registers with the broadcast weights and a value.
#define ACCUMULATE_FOR_LANES(NL, ND)                                                                           \
    do {                                                                                                       \
        size_t d = 0;                                                                                          \
        for (; d + 8 * (ND) <= vec; d += 8 * (ND))                                                             \
            accumulate_tile_avx2(t, w, w_p, w_lane, head_dim, format, v, v_stride, n, lane, d, (NL), (ND));    \
        for (; d < vec; d += 8)                                                                                \
            accumulate_tile_avx2(t, w, w_p, w_lane, head_dim, format, v, v_stride, n, lane, d, (NL), 1);       \
    } while (0)

AVX2 INLINE void accumulate_lanes_avx2(const tile_scratch *t, const float *w, size_t w_p, size_t w_lane,
                                       size_t lanes, size_t head_dim, nibble_weight_format format, const void *v,
                                       size_t v_stride, size_t n) {
    const size_t vec = head_dim & ~(size_t)7;
    size_t lane = 0;
    for (; lane + 4 <= lanes; lane += 4) ACCUMULATE_FOR_LANES(4, 2);
    switch (lanes - lane) {
    case 3: ACCUMULATE_FOR_LANES(3, 2); break;
    case 2: ACCUMULATE_FOR_LANES(2, 4); break;
    case 1: ACCUMULATE_FOR_LANES(1, 8); break;
    default: break;
    }
}

/// o[lane] = o[lane] · c[lane] + Σ_p w[p · w_p + lane · w_lane] · v[p] for every real lane; values in `format`,
/// rows `v_stride` elements apart (half-precision ones widened in registers).
AVX2 static void accumulate_avx2(const tile_scratch *t, const float *w, size_t w_p, size_t w_lane, size_t lanes,
                                 size_t head_dim, nibble_weight_format format, const void *v, size_t v_stride,
                                 size_t n) {
    const size_t vec = head_dim & ~(size_t)7;
    for (size_t lane = 0; lane < lanes; lane++) {
        float c = t->c[lane];
        if (c == 1) continue;
        float *o = t->o + lane * head_dim;
        const __m256 c8 = _mm256_set1_ps(c);
        for (size_t d = 0; d < vec; d += 8) _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(o + d), c8));
        for (size_t d = vec; d < head_dim; d++) o[d] *= c;
    }
    switch (format) {
    case NIBBLE_WEIGHT_F32: accumulate_lanes_avx2(t, w, w_p, w_lane, lanes, head_dim, NIBBLE_WEIGHT_F32, v, v_stride, n); break;
    case NIBBLE_WEIGHT_F16: accumulate_lanes_avx2(t, w, w_p, w_lane, lanes, head_dim, NIBBLE_WEIGHT_F16, v, v_stride, n); break;
    case NIBBLE_WEIGHT_BF16: accumulate_lanes_avx2(t, w, w_p, w_lane, lanes, head_dim, NIBBLE_WEIGHT_BF16, v, v_stride, n); break;
    }
    const size_t width = format == NIBBLE_WEIGHT_F32 ? sizeof(float) : sizeof(uint16_t);
    for (size_t lane = 0; lane < lanes && vec < head_dim; lane++) {
        float *o = t->o + lane * head_dim;
        for (size_t p = 0; p < n; p++) {
            float weight = w[p * w_p + lane * w_lane];
            const char *row = (const char *)v + p * v_stride * width;
            for (size_t d = vec; d < head_dim; d++) o[d] = fmaf(weight, kv_load(format, row, d), o[d]);
        }
    }
}
#endif

// MARK: - The walk

/// out(r, h) = o[lane] / l[lane].
static void finish(const tile_scratch *t, size_t lanes, size_t heads, size_t head_dim, float *out, size_t out_stride) {
    for (size_t lane = 0; lane < lanes; lane++) {
        const float *o = t->o + lane * head_dim;
        float *dst = out + (lane / heads) * out_stride + (lane % heads) * head_dim;
        float inverse = t->l[lane] > 0 ? 1 / t->l[lane] : 0;
        for (size_t d = 0; d < head_dim; d++) dst[d] = o[d] * inverse;
    }
}

#if defined(__x86_64__) || defined(__i386__)
/// The few-lanes walk over positions [low, high): up to FEW_CHUNK blocks scored at once, then each block's
/// softmax and values in order, exactly as one block at a time.
AVX2 static void attend_few_avx2(tile_scratch *t, const nibble_paged_kv *kv, size_t key_head, size_t value_head,
                                 size_t lanes, size_t head_dim, float scale, size_t low, size_t high) {
    const size_t bs = FEW_BLOCK, last = (high - 1) / bs;
    const size_t v_stride = kv->slot_bytes / (kv->format == NIBBLE_WEIGHT_F32 ? sizeof(float) : sizeof(uint16_t));
    for (size_t b0 = low / bs; b0 <= last; b0 += FEW_CHUNK) {
        const size_t blocks = last - b0 + 1 < FEW_CHUNK ? last - b0 + 1 : FEW_CHUNK;
        // Every slot's key is read (the block is allocated; what no lane sees is masked before it can matter).
        const void *kt[FEW_CHUNK];
        for (size_t i = 0; i < blocks; i++) kt[i] = kv->storage + (size_t)kv->blocks[b0 + i] * kv->block_bytes + key_head;
        scores_few_avx2(t, lanes, head_dim, kv->format, kt, blocks, scale);
        for (size_t i = 0; i < blocks; i++) {
            const size_t b = b0 + i;
            const size_t s0 = (low > b * bs ? low : b * bs) - b * bs;
            const size_t n = (high < (b + 1) * bs ? high : (b + 1) * bs) - b * bs - s0;
            // Only blocks some lane does not wholly see need masking (a history's first and last ones).
            const int masked = b * bs < (size_t)t->first[lanes - 1] || (b + 1) * bs > (size_t)t->end[0];
            softmax_few_avx2(t, i, lanes, (int32_t)(b * bs), s0, n, masked);
            // Values only over the slots some lane sees.
            const char *values = kv->storage + (size_t)kv->blocks[b] * kv->block_bytes + value_head + s0 * kv->slot_bytes;
            accumulate_avx2(t, few_scores(t, i, 0) + s0, 1, FEW_BLOCK, lanes, head_dim, kv->format, values, v_stride, n);
        }
    }
}
#endif


void nibble_attend_tile(nibble_impl impl, const nibble_paged_kv *kv, size_t kv_head, const float *q,
                        size_t q_stride, size_t rows, size_t heads, size_t head_dim, float scale, size_t position,
                        size_t window, float *scratch, float *out, size_t out_stride) {
    const size_t lanes = rows * heads, bs = kv->block_size;
    if (lanes == 0) return;
    tile_scratch t = carve(scratch, lanes, head_dim, bs);
#if defined(__x86_64__) || defined(__i386__)
    const int avx2 = impl >= NIBBLE_IMPL_AVX2;
#else
    const int avx2 = 0;
    (void)impl;
    (void)avx2;
#endif
    for (size_t lane = 0; lane < t.lp; lane++) {
        size_t end = position + lane / heads + 1;
        t.first[lane] = lane < lanes ? (int32_t)(window && end > window ? end - window : 0) : 0;
        t.end[lane] = lane < lanes ? (int32_t)end : 0;
        t.m[lane] = -INFINITY;
        t.l[lane] = 0;
    }
    for (size_t r = 0, lane = 0; r < rows; r++)
        for (size_t h = 0; h < heads; h++, lane++)
            for (size_t d = 0; d < head_dim; d++) t.qt[d * t.lp + lane] = q[r * q_stride + h * head_dim + d];
    for (size_t lane = lanes; lane < t.lp; lane++)
        for (size_t d = 0; d < head_dim; d++) t.qt[d * t.lp + lane] = 0;
    memset(t.o, 0, lanes * head_dim * sizeof(float));
    const size_t low = (size_t)t.first[0], high = position + rows;
    const nibble_weight_format format = kv->format;
    const size_t width = format == NIBBLE_WEIGHT_F32 ? sizeof(float) : sizeof(uint16_t);
    const size_t key_head = kv->key_offset + kv_head * head_dim * bs * width;  // this head's (head_dim, bs) keys
    const size_t value_head = kv->value_offset + kv_head * head_dim * width;
#if defined(__x86_64__) || defined(__i386__)
    if (avx2 && lanes <= FEW_LANES && bs == FEW_BLOCK) {
        attend_few_avx2(&t, kv, key_head, value_head, lanes, head_dim, scale, low, high);
        finish(&t, lanes, heads, head_dim, out, out_stride);
        return;
    }
#endif
    for (size_t b = low / bs; b <= (high - 1) / bs; b++) {
        const char *block = kv->storage + (size_t)kv->blocks[b] * kv->block_bytes;
        const size_t s0 = (low > b * bs ? low : b * bs) - b * bs;
        const size_t n = (high < (b + 1) * bs ? high : (b + 1) * bs) - b * bs - s0;
        // Float32 caches are read in place; half-precision keys (every slot: the block is allocated, and what no
        // lane sees is masked before it can matter) and values (only the slots some lane sees) are widened
        // once for all lanes.
        const float *kt = (const float *)(block + key_head), *v = (const float *)(block + value_head + s0 * kv->slot_bytes);
        size_t v_stride = kv->slot_bytes / sizeof(float);
        if (format != NIBBLE_WEIGHT_F32) {
#if defined(__x86_64__) || defined(__i386__)
            if (avx2) {
                widen_rows_avx2(format, block + key_head, 0, 1, head_dim * bs, t.kf);
                widen_rows_avx2(format, (const char *)v, kv->slot_bytes, n, head_dim, t.vf);
            } else
#endif
            {
                widen_rows_scalar(format, block + key_head, 0, 1, head_dim * bs, t.kf);
                widen_rows_scalar(format, (const char *)v, kv->slot_bytes, n, head_dim, t.vf);
            }
            kt = t.kf;
            v = t.vf;
            v_stride = head_dim;
        }
#if defined(__x86_64__) || defined(__i386__)
        if (avx2) {
            scores_avx2(&t, head_dim, kt + s0, bs, n, scale);
            // Only blocks some lane does not wholly see need masking (the diagonal, a window's first).
            const int masked = b * bs + s0 < (size_t)t.first[lanes - 1] || b * bs + s0 + n > (size_t)t.end[0];
            softmax_avx2(&t, n, (int32_t)(b * bs + s0), masked);
            accumulate_avx2(&t, t.s, t.lp, 1, lanes, head_dim, NIBBLE_WEIGHT_F32, v, v_stride, n);
            continue;
        }
#endif
        scores_scalar(&t, head_dim, kt + s0, bs, n, scale);
        softmax_scalar(&t, n, (int32_t)(b * bs + s0));
        accumulate_scalar(&t, lanes, head_dim, v, v_stride, n);
    }
    finish(&t, lanes, heads, head_dim, out, out_stride);
}
