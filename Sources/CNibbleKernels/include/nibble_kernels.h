#ifndef NIBBLE_KERNELS_H
#define NIBBLE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// CPU features the vector kernels can use, detected once at run time.
typedef struct {
    int avx2;
    int fma;
    int f16c;
    /// AVX-512 F, BW, DQ and VL, with the operating system saving the 512-bit registers.
    int avx512;
} nibble_cpu_features;

/// Detects the running CPU's features (all zero on non-x86 machines).
nibble_cpu_features nibble_detect_cpu_features(void);

/// Which implementation a kernel call uses.
typedef enum {
    /// Portable C (any CPU, any compiler flags).
    NIBBLE_IMPL_SCALAR = 0,
    /// AVX2 + FMA + F16C on x86_64; only valid when `nibble_detect_cpu_features` reports all three.
    NIBBLE_IMPL_AVX2 = 1,
    /// `NIBBLE_IMPL_AVX2` plus AVX-512 kernels where they are faster (4-bit weights); only valid when the
    /// features also report `avx512`.
    NIBBLE_IMPL_AVX512 = 2,
} nibble_impl;

/// Element formats of a weight matrix.
typedef enum {
    NIBBLE_WEIGHT_F32 = 0,
    NIBBLE_WEIGHT_F16 = 1,
    NIBBLE_WEIGHT_BF16 = 2,
} nibble_weight_format;

/// The best implementation this CPU supports (computed once).
nibble_impl nibble_best_impl(void);

/// y[r * ldy + o] = Σ_i x[r * ldx + i] · W[o][i] for r in [0, rows), o in [o_begin, o_end).
///
/// - x: activations `(rows, ldx)` float32, the first `n` columns used.
/// - w: weights `(out, n)` row-major in `format` (float32, IEEE half bits, or bfloat16 bits).
/// - y: output `(rows, ldy)` float32.
/// Each weight tile is loaded once and reused for up to four input rows, so prefill reads weights far fewer
/// times than a row-by-row loop would.
void nibble_matmul(nibble_impl impl, nibble_weight_format format, const float *x, size_t rows, size_t ldx,
                   const void *w, size_t n, size_t o_begin, size_t o_end, float *y, size_t ldy);

/// Σ a[i]·b[i] over `n` float32 values.
float nibble_dot_f32(nibble_impl impl, const float *a, const float *b, size_t n);

/// y[i] += alpha · x[i] over `n` float32 values.
void nibble_axpy_f32(nibble_impl impl, float *y, float alpha, const float *x, size_t n);

/// Widens `n` IEEE half values to float32.
void nibble_f16_to_f32(nibble_impl impl, const uint16_t *src, float *dst, size_t n);

/// Narrows `n` float32 values to IEEE half bits (round to nearest even, NaN kept quiet).
void nibble_f32_to_f16(nibble_impl impl, const float *src, uint16_t *dst, size_t n);

/// Narrows `n` float32 values to bfloat16 bits (round to nearest even, NaN kept quiet).
void nibble_f32_to_bf16(nibble_impl impl, const float *src, uint16_t *dst, size_t n);

/// Widens `n` bfloat16 values to float32.
void nibble_bf16_to_f32(nibble_impl impl, const uint16_t *src, float *dst, size_t n);

/// Float formats values can be rounded to (round to nearest even) and widened back.
typedef enum {
    NIBBLE_ROUND_F32 = 0,
    NIBBLE_ROUND_F16 = 1,
    NIBBLE_ROUND_BF16 = 2,
} nibble_round_format;

/// dst[i] = src[i] rounded to `format` and widened back to float32, over `n` values (src may equal dst).
void nibble_round_f32(nibble_impl impl, nibble_round_format format, const float *src, float *dst, size_t n);

/// y[r * ldy + o] = Σ_i a[r * lda + i] · b[o * n + i] in int32 for r in [0, rows), o in [o_begin, o_end).
///
/// - a: activations `(rows, lda)` int8, the first `n` columns used.
/// - b: weights `(out, n)` int8 row-major.
/// - y: output `(rows, ldy)` int32.
/// - b_symmetric: nonzero only when b holds no −128 (as every weight quantized to ±127 does); it lets the
///   AVX2 path multiply 32 bytes per instruction. With a −128 in b it must be 0.
/// Products are summed exactly (wrapping on overflow), so every path gives the same bits.
void nibble_matmul_i8(nibble_impl impl, const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n,
                      size_t o_begin, size_t o_end, int32_t *y, size_t ldy, int b_symmetric);

/// `nibble_matmul_i8` followed by the LLM.int8() dequantization of each sum, without an int32 buffer:
/// y[r * ldy + o] = ((float)sum · (row_scale[r] · col_scale[o])) · k.
///
/// - row_scale: `(rows)` activation absmax; col_scale: `(out)` weight absmax; y: `(rows, ldy)` float32.
void nibble_matmul_i8_scaled(nibble_impl impl, const int8_t *a, size_t rows, size_t lda, const int8_t *b, size_t n,
                             size_t o_begin, size_t o_end, const float *row_scale, const float *col_scale, float k,
                             float *y, size_t ldy, int b_symmetric);

/// LLM.int8() row-wise quantization of activations x `(rows, n)` (already rounded to fp16):
/// entries with |v| ≥ threshold (when threshold > 0) count as 0; absmax[r] = max |v| of row r's other entries;
/// q[r][c] = clamp(round_half_even(v · ((1 / absmax[r]) · 127)), ±127), 0 for NaN. Outlier columns are not
/// zeroed here. q: `(rows, n)` int8; absmax: `(rows)`.
void nibble_quantize_i8_rows(nibble_impl impl, const float *x, size_t rows, size_t n, float threshold, int8_t *q,
                             float *absmax);

/// Prepares the input x `(rows, n)` of one LLM.int8() product, as bitsandbytes does before its int8 matmul:
/// xh = x rounded to fp16; the outlier columns (any |xh| ≥ threshold, threshold > 0) go ascending to `cols`;
/// q and absmax as `nibble_quantize_i8_rows` gives them from xh, with the outlier columns of q zeroed when
/// rows > 1. Returns the number of outlier columns.
/// - xh: `(rows, n)` float32; q: `(rows, n)` int8; absmax: `(rows)`; cols: `(n)` scratch, then the columns.
size_t nibble_i8_prepare(nibble_impl impl, const float *x, size_t rows, size_t n, float threshold, float *xh,
                         int8_t *q, float *absmax, int32_t *cols);

/// Adds the outlier columns' floating-point product to y for outputs [o_begin, o_end):
/// y[r · ldy + o] += Σ_j xh[r · n + cols[j]] · ((cb[o · n + cols[j]] · scb[o]) · (1/127)), the sum taken from
/// zero in column order with every product and sum rounded on its own.
/// - xh: `(rows, n)`; cols: `(count)`; cb: `(out, n)` int8 weight; scb: `(out)` its row absmax.
void nibble_i8_add_outliers(nibble_impl impl, const float *xh, size_t rows, size_t n, const int32_t *cols,
                            size_t count, const int8_t *cb, const float *scb, size_t o_begin, size_t o_end, float *y,
                            size_t ldy);

/// A blockwise 4-bit weight `(out, n)` as bitsandbytes stores it: the matrix flattened row-major, two codes
/// per byte (first element in the high nibble), one absmax per `blocksize` consecutive elements.
typedef struct {
    /// `((out · n + 1) / 2)` packed codes.
    const uint8_t *packed;
    /// `(16)` value of each 4-bit code.
    const float *code;
    /// Elements per absmax block.
    size_t blocksize;
    /// `(blocks)` absmax of each block, or NULL when they are double-quantized (the fields below).
    const float *absmax;
    /// `(blocks)` 8-bit codes of (absmax − offset).
    const uint8_t *absmax_codes;
    /// `(256)` value of each 8-bit code.
    const float *absmax_code;
    /// `(ceil(blocks / nested_blocksize))` absmax of each group of 8-bit codes.
    const float *nested_absmax;
    /// Codes per nested group.
    size_t nested_blocksize;
    /// Mean added back to every reconstructed absmax.
    float offset;
    /// Format the dequantized weights are rounded to (the compute dtype).
    nibble_round_format compute;
    /// Rows and columns.
    size_t out, n;
} nibble_4bit_weight;

/// Floats of prepared input the 4-bit kernel of `impl` reads for `rows` rows of `n` columns (blocks of
/// `blocksize`, weights rounded to `compute`): the rows rounded to `compute` and, on the vector paths, in the
/// order the decoded weights come out. 0 when it reads the input as it is (float32 compute, no reordering).
size_t nibble_4bit_input_floats(nibble_impl impl, size_t n, size_t blocksize, nibble_round_format compute, size_t rows);

/// xp `(rows, n)` = x `(rows, ldx)` prepared for the 4-bit kernel (see `nibble_4bit_input_floats`). Done once per
/// product, not per range of outputs.
void nibble_4bit_prepare_input(nibble_impl impl, size_t n, size_t blocksize, nibble_round_format compute,
                               const float *x, size_t rows, size_t ldx, float *xp);

/// y[r * ldy + o] = Σ_i x[r][i] · dequant(W)[o][i] for r in [0, rows), o in [o_begin, o_end), where
/// dequant(W)[o][i] = round_compute(code[q] · absmax[block]) exactly as a full dequantization computes it.
///
/// - xp: the input `(rows, w->n)` prepared by `nibble_4bit_prepare_input` on the same `impl`, or x itself when
///   `nibble_4bit_input_floats` is 0.
/// - y: output `(rows, ldy)` float32.
/// One input row fuses decoding with the dot products; a few rows decode each group of weights into registers
/// for all of them; many rows decode a block of weight rows once into a scratch buffer and reuse it. The full
/// dequantized matrix never exists.
void nibble_matmul_4bit(nibble_impl impl, const nibble_4bit_weight *w, const float *xp, size_t rows, size_t o_begin,
                        size_t o_end, float *y, size_t ldy);

/// Where one layer's keys and values are in a paged cache: block `b` of the table starts at
/// `storage + blocks[b] · block_bytes`. Its keys are at `key_offset`, transposed: `(kv_dim, block_size)`, element
/// j of slot s at `j · block_size + s`, so one element of every position is one vector. Its values are at
/// `value_offset`, `(block_size, kv_dim)`, one position every `slot_bytes`. Elements in `format`.
typedef struct {
    const char *storage;
    size_t block_bytes;
    size_t key_offset;
    size_t value_offset;
    size_t slot_bytes;
    /// `(ceil(end / block_size))` block table (entries before the first visible position are not read).
    const int32_t *blocks;
    size_t block_size;
    nibble_weight_format format;
} nibble_paged_kv;

/// Softmax attention of a tile of queries over a paged cache: `rows` consecutive query rows at absolute
/// positions [position, position + rows) × `heads` query heads that share KV head `kv_head` (elements
/// [kv_head · head_dim, + head_dim) of each position). Query (r, h) is `q[r · q_stride + h · head_dim ..< +
/// head_dim]` and sees positions [max(0, end − window), end) with end = position + r + 1 (window 0: all of
/// them); its output, out = Σ_p softmax(scale · q·k_p) v_p, goes to `out[r · out_stride + h · head_dim ..< +
/// head_dim]`.
///
/// Keys and values are read once per tile for all its queries. Each query's result is the same, to the bit,
/// whatever tile it is computed in. `scratch` holds `nibble_attend_scratch_floats(rows · heads, head_dim,
/// block_size)` floats, 32-byte aligned.
void nibble_attend_tile(nibble_impl impl, const nibble_paged_kv *kv, size_t kv_head, const float *q,
                        size_t q_stride, size_t rows, size_t heads, size_t head_dim, float scale, size_t position,
                        size_t window, float *scratch, float *out, size_t out_stride);

/// Floats of scratch `nibble_attend_tile` needs for `lanes` (rows × heads) queries.
size_t nibble_attend_scratch_floats(size_t lanes, size_t head_dim, size_t block_size);

/// y[i] = e^x[i] for `n` float32 values: within 1 ulp of a correctly rounded exp over the whole float range
/// (0 below −103.97, +inf above 88.72, NaN kept), exactly 1 at 0. Attention's softmax uses it.
void nibble_exp_f32(nibble_impl impl, const float *x, float *y, size_t n);

/// The SwiGLU gate in place: gate[i] = silu(gate[i]) · up[i] = gate[i] / (1 + e^−gate[i]) · up[i], with
/// `nibble_exp_f32`'s exponential, over `n` float32 values.
void nibble_silu_mul_f32(nibble_impl impl, float *gate, const float *up, size_t n);

/// One unit of a parallel job: `task` is in [0, tasks).
typedef void (*nibble_task_fn)(void *context, size_t task);

/// Runs fn(context, t) for every t in [0, tasks) on up to `threads` threads, the caller being one of them,
/// and returns when all have finished. Workers are created on first use and kept: between jobs they spin
/// briefly (back-to-back matmuls of a decode step hand off in well under a microsecond), then sleep on a
/// condition variable so an idle server costs no CPU. A job started while another runs (from another thread,
/// or from inside a task) runs serially on its caller instead of waiting.
void nibble_pool_run(size_t threads, size_t tasks, nibble_task_fn fn, void *context);

/// Makes the C allocator map blocks of `bytes` or more on their own, so they go back to the system when freed
/// (glibc's `M_MMAP_THRESHOLD`, which also stops it raising the threshold by itself), and keep up to twice that
/// much freed heap for reuse (`M_TRIM_THRESHOLD`, unless `MALLOC_TRIM_THRESHOLD_` is set). Returns 0 where there
/// is no such setting or it was refused.
int nibble_set_mapping_threshold(size_t bytes);

#endif
