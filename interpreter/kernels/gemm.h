/* gemm.h — the matrix products behind `linear`, `mlp` and the LM head.
 *
 * y[m][n] = x[m][k] · W[n][k]ᵀ (+ bias[n]), with W in PyTorch's [out, in] layout and stored as
 * f32, f16 or bf16 (converted to f32 inside the kernel, never materialised whole).
 * Blocked, vectorised (AVX-512 / AVX2+FMA with a portable fallback) and parallel with OpenMP
 * over output tiles; each output element is reduced in a fixed order, so the result does not
 * depend on the thread count. The CPU's opt-in bf16 products (--precision bf16), which round
 * x to bf16 as well, are in gemm_bf16.h.
 */
#ifndef SPARSA_GEMM_H
#define SPARSA_GEMM_H

#include <stddef.h>
#include "sparsa_format.h"

#ifdef __cplusplus
extern "C" {
#endif

void sp_gemm_wt(const float *x, size_t m, size_t k, const void *w, sp_dtype w_dtype, size_t n,
                const float *bias, float *y);

/* Row r of a weight matrix as f32 (embedding lookups). */
void sp_weight_row_f32(const void *w, sp_dtype w_dtype, size_t row, size_t cols, float *out);

/* The instruction-set back end in use: "avx512", "avx2" or "scalar". Chosen once from the CPU
 * (best available), or forced by the environment variable SPARSA_GEMM_ISA. */
const char *sp_gemm_isa(void);
/* Forces a back end ("auto", "avx512", "avx2", "scalar") for tests and benchmarks. Returns 0,
 * or -1 (and changes nothing) if the name is unknown or the CPU lacks it. Call it while no
 * product runs. */
int sp_gemm_set_isa(const char *name);

/* Totals over the calls of sp_gemm_wt made outside OpenMP parallel regions since the last
 * reset: floating-point operations (2·m·k·n) and wall seconds (benchmarks). */
void sp_gemm_stats(double *flops, double *seconds);
void sp_gemm_stats_reset(void);

#ifdef __cplusplus
}
#endif
#endif
