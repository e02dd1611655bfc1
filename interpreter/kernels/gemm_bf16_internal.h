/* gemm_bf16_internal.h — what the bf16 gemm driver (gemm_bf16.c) needs from its AVX512_BF16
 * kernels (gemm_bf16_avx512.c) and its AMX kernel (gemm_bf16_amx.c). Not a public header.
 *
 * The operands are handled as 32-bit words, each a pair of bf16 values adjacent along k (the
 * even element in the low half), which is what vdpbf16ps multiplies: one instruction adds, per
 * fp32 lane, the two products of a pair. Blocking as the fp32 path (gemm_internal.h), in pairs:
 *  - W is packed per thread into panels of NR output columns × kcp pairs, stored [kcp][NR];
 *  - x is rounded to bf16 into micro-panels of MR rows, each row SP_BF16_KCP words apart;
 *  - the microkernel keeps an MR × NR tile of y in fp32 registers and runs over kcp, so every
 *    output element is one chain over the pairs in increasing order (k blocks store and reload
 *    the partial sum exactly).
 */
#ifndef SPARSA_GEMM_BF16_INTERNAL_H
#define SPARSA_GEMM_BF16_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gemm_bf16.h"

#define SP_BF16_MR 14
#define SP_BF16_AMX_MR 32  /* the AMX kernel's rows: two tiles of 16 */
#define SP_BF16_NR 32
#define SP_BF16_KCP 128   /* k block in pairs (256 inputs) */

#if defined(__GNUC__) && defined(__x86_64__)
int sp_bf16_cpu_ok(void);
/* c[MR][ldc] (+)= a[MR][SP_BF16_KCP] · b[kcp][NR] over kcp pairs; accumulate = 0 starts from 0. */
void sp_bf16_kernel(size_t kcp, const uint32_t *a, const uint32_t *b, float *c, size_t ldc,
                    int accumulate);
/* dst[p][NR] = pair p of W[j0 + r][pc ..] for r < NR (zero rows past n), p < ceil(kc / 2); a
 * pair past k is zero in its high half. */
void sp_bf16_pack_w(const uint16_t *w, size_t k, size_t n, size_t j0, size_t pc, size_t kc,
                    uint32_t *dst);
/* dst[0..ceil(len / 2)) = x[0..len) rounded to bf16, in pairs (zero past len). */
void sp_bf16_pack_x_row(const float *x, size_t len, uint32_t *dst);
/* AMX (gemm_bf16_amx.c): 1 if the CPU has AMX-BF16 and AMX-TILE and Linux grants their state
 * to this process (asked for here, once is enough). */
int sp_bf16_amx_cpu_ok(void);
/* Loads this thread's tile configuration; sp_bf16_amx_end releases the tiles. */
void sp_bf16_amx_begin(void);
void sp_bf16_amx_end(void);
/* c[32][ldc] (+)= a[32][SP_BF16_KCP] · b[kcp][NR] over kcp pairs, kcp a multiple of 16,
 * between sp_bf16_amx_begin and sp_bf16_amx_end. */
void sp_bf16_amx_kernel(size_t kcp, const uint32_t *a, const uint32_t *b, float *c, size_t ldc,
                        int accumulate);
/* Small-m path: y[i][j] = Σ bf16(x[i][p])·W[j][p] for i < m, j in [j0, j1), without bias. */
void sp_bf16_rows(const float *x, size_t m, size_t k, const uint16_t *w, size_t j0, size_t j1,
                  size_t n, float *y);
#endif

#endif
