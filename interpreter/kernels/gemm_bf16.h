/* gemm_bf16.h — the opt-in bf16 matrix products of the CPU (--precision bf16): the linear and
 * MLP products with the activations rounded to bf16 (round to nearest even) and bf16 weights,
 * multiplied in pairs by AVX512_BF16 dot products (vdpbf16ps) that accumulate in fp32. Only the
 * operands are rounded; sums, bias, activations and everything outside these products stay
 * fp32. fp32 (gemm.h) stays the default and the reference.
 *
 * Like sp_gemm_wt, each output element is reduced in a fixed order, so results do not depend
 * on the thread count.
 */
#ifndef SPARSA_GEMM_BF16_H
#define SPARSA_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>
#include "sparsa_format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if this CPU has AVX512_BF16 (and AVX-512 F/BW/VL/DQ): the products below may be called.
 * 0 also when SPARSA_GEMM_ISA forces avx2 or scalar (gemm.h), as a CPU without them would. */
int sp_gemm_bf16_available(void);

/* Which unit runs the products of m ≥ 4 rows: "amx" (the AMX tiles, where the CPU has
 * AMX-BF16 and Linux grants it), "avx512_bf16" (vdpbf16ps), or "none" when the products are
 * unavailable. Both round the same operands and sum in fp32; the order of the sums inside a
 * 16-pair tile is the hardware's, so the two engines may differ in the last bits, while each
 * gives the same bits for any thread count. SPARSA_BF16_ENGINE=avx512_bf16 keeps AMX off. */
const char *sp_gemm_bf16_engine(void);
/* Forces an engine ("amx" or "avx512_bf16") for tests and benchmarks: 0, or -1 (changing
 * nothing) when this CPU lacks it. Call it while no product runs. */
int sp_gemm_bf16_set_engine(const char *name);

/* y[m][n] = bf16(x)[m][k] · W[n][k]ᵀ (+ bias[n]), W bf16 in PyTorch's [out, in] layout. */
void sp_gemm_wt_bf16(const float *x, size_t m, size_t k, const uint16_t *w, size_t n,
                     const float *bias, float *y);

/* W [rows][cols] of dtype dt (f32, f16 or bf16) as a malloc'd bf16 copy, rounded to nearest
 * even (the converter's --dtype bf16 rounding); NULL when memory runs out. */
uint16_t *sp_weight_to_bf16(const void *w, sp_dtype dt, size_t rows, size_t cols);

#ifdef __cplusplus
}
#endif
#endif
