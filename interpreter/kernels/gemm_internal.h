/* gemm_internal.h — what the gemm driver (gemm.c) needs from each instruction-set back end
 * (gemm_avx512.c, gemm_avx2.c, gemm_scalar.c). Not a public header.
 *
 * Blocking (BLIS-style, the names follow that tradition):
 *  - W is packed per thread into panels of NR output columns × kc inputs, stored [kc][NR]
 *    (f16/bf16 are converted to f32 while packing);
 *  - x is read in place (its rows are f32 already), or, for a last micro-panel of fewer than
 *    MR rows, packed into MR rows of KC floats, zero past its end;
 *  - the microkernel keeps an MR × NR tile of y in registers and runs over kc.
 * Every output element is one fused multiply-add chain over k in increasing order (blocks of
 * k store and reload the partial sum exactly), so the result does not depend on how the
 * output is split between threads or tiles.
 */
#ifndef SPARSA_GEMM_INTERNAL_H
#define SPARSA_GEMM_INTERNAL_H

#include <stddef.h>
#include "gemm.h"

/* k block: packed x rows have this stride whatever kc is, so the microkernel can address its
 * MR rows with constant offsets. */
#define SP_GEMM_KC 256

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SP_GEMM_X86 1
#else
#define SP_GEMM_X86 0
#endif

typedef struct sp_gemm_backend {
    const char *name;
    int mr, nr;     /* microkernel tile; 0 for a back end without one (scalar) */
    /* c[MR][ldc] (+)= a[MR][lda] · b[kc][NR] (a's rows lda floats apart: a packed panel,
     * SP_GEMM_KC, or x itself); accumulate = 0 starts from zero. */
    void (*kernel)(size_t kc, const float *a, size_t lda, const float *b, float *c,
                   size_t ldc, int accumulate);
    /* dst[p][NR] = W[j0 + r][pc + p] for r < NR (rows past n zero), p < kc, as f32; W is
     * [n][k]. NULL: the driver converts rows and transposes them in plain C. */
    void (*pack_w)(const void *w, sp_dtype dt, size_t k, size_t n, size_t j0, size_t pc,
                   size_t kc, float *dst);
    /* dst[0..len) = src[0..len) as f32. */
    void (*convert)(const void *src, sp_dtype dt, size_t len, float *dst);
    /* Small-m path: y[i][j] = Σ_p x[i][p]·W[j][p] for i < m, j in [j0, j1), without bias. */
    void (*rows)(const float *x, size_t m, size_t k, const void *w, sp_dtype dt, size_t j0,
                 size_t j1, size_t n, float *y);
} sp_gemm_backend;

extern const sp_gemm_backend sp_gemm_backend_scalar;
#if SP_GEMM_X86
extern const sp_gemm_backend sp_gemm_backend_avx2;
extern const sp_gemm_backend sp_gemm_backend_avx512;
#endif

/* Scalar helpers shared by the back ends (tails, conversions). */
void sp_gemm_convert_scalar(const void *src, sp_dtype dt, size_t len, float *dst);

#endif
