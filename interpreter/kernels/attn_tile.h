/* attn_tile.h — the matrix pieces of tiled (flash-style) attention: a score tile S = K·Qᵀ and
 * an output tile update Oᵀ = Oᵀ·diag(α) + Vᵀ·P, each over one query tile of SP_ATTN_LANES
 * queries (the lanes) and up to SP_ATTN_TK keys (docs/ATTENTION_MATH.md#tiled-attention).
 *
 * Both products read the key and value rows straight from the KV cache (a broadcast operand)
 * against a packed lane operand, so nothing of the cache is packed or copied. Every element is
 * one multiply-add chain over its reduction index in increasing order, starting from 0 (scores)
 * or from the rescaled accumulator (outputs): fused in the vector back ends, a·b + c in the
 * scalar one. An element's bits therefore depend only on its own query and keys, never on
 * which other queries share the tile, how many lanes are live or which thread runs it — which
 * is what makes prefill, decode and any thread count agree bit for bit.
 *
 * The back end follows the matrix kernels' choice (sp_gemm_isa, SPARSA_GEMM_ISA).
 */
#ifndef SPARSA_ATTN_TILE_H
#define SPARSA_ATTN_TILE_H

#include <stddef.h>

#define SP_ATTN_LANES 32 /* queries per tile */
#define SP_ATTN_TK 64    /* keys per tile; key tiles start at multiples of SP_ATTN_TK */

typedef struct sp_attn_tile_kernels {
    const char *name;
    /* sT[j][l] = Σ_p k[j·kstride + p] · qT[p][l] for j < nkeys (1 ≤ nkeys ≤ SP_ATTN_TK),
     * l < SP_ATTN_LANES, p = 0 … d−1 in order. */
    void (*qk)(const float *qT, const float *k, size_t kstride, int d, int nkeys, float *sT);
    /* oT[c][l] = oT[c][l]·alpha[l] (alpha NULL: left as is), then for j = 0 … nkeys−1 in
     * order oT[c][l] += v[j·vstride + c] · pT[j][l] where pT[j][l] ≠ 0; c < dv. A weight of
     * exactly 0 (a key the lane does not see) adds nothing, so a NaN or Inf value row never
     * reaches a query that does not see it. */
    void (*pv)(const float *pT, const float *v, size_t vstride, int dv, int nkeys,
               const float *alpha, float *oT);
    /* One query (decode): s[j] = Σ_p k[j·kstride + p] · q[p], the same chain as one lane of
     * qk. */
    void (*qk_row)(const float *q, const float *k, size_t kstride, int d, int nkeys, float *s);
    /* One live lane (decode): o[c] = o[c]·alpha[0] (alpha NULL: left as is), then
     * o[c] += v[j·vstride + c] · p[j] for j in order where p[j] ≠ 0: the same chain as one
     * lane of pv. */
    void (*pv_row)(const float *p, const float *v, size_t vstride, int dv, int nkeys,
                   const float *alpha, float *o);
} sp_attn_tile_kernels;

/* The back end matching sp_gemm_isa(). */
const sp_attn_tile_kernels *sp_attn_tile_kernels_get(void);

extern const sp_attn_tile_kernels sp_attn_tile_scalar;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
extern const sp_attn_tile_kernels sp_attn_tile_avx2, sp_attn_tile_avx512;
#endif

#endif
