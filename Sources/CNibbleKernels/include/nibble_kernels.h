#ifndef NIBBLE_KERNELS_H
#define NIBBLE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// CPU features the vector kernels can use, detected once at run time.
typedef struct {
    int avx2;
    int fma;
    int f16c;
} nibble_cpu_features;

/// Detects the running CPU's features (all zero on non-x86 machines).
nibble_cpu_features nibble_detect_cpu_features(void);

/// Which implementation a kernel call uses.
typedef enum {
    /// Portable C (any CPU, any compiler flags).
    NIBBLE_IMPL_SCALAR = 0,
    /// AVX2 + FMA + F16C on x86_64; only valid when `nibble_detect_cpu_features` reports all three.
    NIBBLE_IMPL_AVX2 = 1,
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

/// One unit of a parallel job: `task` is in [0, tasks).
typedef void (*nibble_task_fn)(void *context, size_t task);

/// Runs fn(context, t) for every t in [0, tasks) on up to `threads` threads, the caller being one of them,
/// and returns when all have finished. Workers are created on first use and kept: between jobs they spin
/// briefly (back-to-back matmuls of a decode step hand off in well under a microsecond), then sleep on a
/// condition variable so an idle server costs no CPU. A job started while another runs (from another thread,
/// or from inside a task) runs serially on its caller instead of waiting.
void nibble_pool_run(size_t threads, size_t tasks, nibble_task_fn fn, void *context);

#endif
