/* attention.h — the attention family: scores, positional bias, normalisers, output.
 *
 * This is the kernel behind the graph's `attention` op (format/GRAPH.md, "The attention op").
 * The interpreter projects q, k, v, applies RoPE, appends k, v to the KV cache, computes the
 * per-row query scale factors (sp_query_scale), then calls sp_attention_forward.
 *
 * The normalisers (softmax, α-entmax, sparsemax, adaptive-temperature softmax, stick-breaking,
 * top-k) are rows of one table (normalizers.h); their math, the query scalings and the
 * positional schemes are in docs/ATTENTION_MATH.md. Sparse normalisers never touch keys whose
 * weight is exactly zero (docs/ATTENTION_MATH.md#exact-zeros). Rows whose scores are not
 * finite (NaN, ±inf) give NaN outputs, never a crash.
 *
 * Prefill and decode use the same per-row solver, so they agree.
 */
#ifndef SPARSA_ATTENTION_H
#define SPARSA_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A row of the normaliser table (normalizers.h); sp_norm_find looks one up by the name the
 * graph's `normalizer` attribute uses ("softmax", "entmax", …), NULL if there is none. */
typedef struct sp_norm_kind sp_norm_kind;
const sp_norm_kind *sp_norm_find(const char *name);

typedef struct sp_attn_params {
    int heads, kv_heads, head_dim, value_dim;
    float scale;               /* multiplies q·k */
    int causal;
    int window;                /* 0 = none */
    float softcap;             /* 0 = none */
    const sp_norm_kind *norm;  /* the normaliser (never NULL) and its parameters: */
    float alpha;               /*   entmax α (sparsemax: 2) */
    int topk;                  /*   topk k */
    int topk_div2;             /*   topk: k = max(topk, visible/2) */
    const float *alibi_slopes; /* [heads] or NULL */
} sp_attn_params;

/* Per head, accumulated by sp_attention_forward when not NULL: query rows, keys with p > 0,
 * visible keys; for the tiled sparse normalisers also the (row, key tile) pairs with a visible
 * key and those of them whose value rows were skipped because no key of the tile has p > 0
 * (docs/ATTENTION_MATH.md#tiled-attention). */
typedef struct sp_attn_stats {
    uint64_t rows, support, visible;
    uint64_t tiles, tiles_skipped;
} sp_attn_stats;

/* Queries are rows q0..q0+nq-1 (absolute positions) of q [nq][heads*head_dim]; keys/values are
 * positions 0..nk-1 of k [nk][kv_heads*head_dim], v [nk][kv_heads*value_dim] (the KV cache).
 * qscale: NULL or [nq][heads] factors multiplying q (length-dependent scaling).
 * out: [nq][heads*value_dim]. stats: NULL or [heads].
 * Parallel (OpenMP) over heads × rows; the result does not depend on the thread count. */
void sp_attention_forward(const sp_attn_params *p, const float *q, const float *k,
                          const float *v, const float *qscale, size_t q0, size_t nq, size_t nk,
                          float *out, sp_attn_stats *stats);

/* ---- normalisers on one row (exported for tests and benchmarks) ------------------------- */

/* p[0..n) = entmax_alpha(z[0..n)); returns the support size; *tau (if not NULL) receives τ in
 * the convention p = [(α−1)z − τ]_+^(1/(α−1)) on the raw z. */
size_t sp_entmax(const float *z, size_t n, float alpha, float *p, float *tau);
size_t sp_sparsemax(const float *z, size_t n, float *p, float *tau);
size_t sp_entmax15(const float *z, size_t n, float *p, float *tau);
/* The reference code's entmax_bisect bit for bit: fp32, n_iter iterations, d = n (include
 * masked columns by passing them), output renormalised. */
void sp_entmax_bisect_ref(const float *z, size_t n, float alpha, int n_iter, float *p);
void sp_softmax(const float *z, size_t n, float *p);
void sp_adaptive_softmax(const float *z, size_t n, float *p);

/* ---- length-dependent query scaling (docs/ATTENTION_MATH.md#query-scaling) --------------- */

typedef enum { SP_QSCALE_NONE = 0, SP_QSCALE_ASENTMAX, SP_QSCALE_SSMAX, SP_QSCALE_LEARN } sp_qscale_kind;

typedef struct sp_qscale_params {
    sp_qscale_kind kind;
    int heads, scaled_heads;   /* the last scaled_heads heads are scaled */
    float delta, gamma_range;
    int log_offset;            /* ℓ_i = log(i + log_offset) */
    /* asentmax: beta_proj / gamma_proj as f32 [scaled_heads][D] linear outputs are computed
     * by the caller; ssmax/learn: per-head constants */
    const float *beta;         /* ssmax, learn: [scaled_heads] */
    const float *gamma;        /* learn: [scaled_heads] */
} sp_qscale_params;

/* Fills qscale [nq][heads] for rows at absolute positions q0..q0+nq-1. For asentmax,
 * beta_lin and gamma_lin are the pre-activation projections [nq][scaled_heads]
 * (W h + b); otherwise they are ignored (may be NULL). */
void sp_query_scale(const sp_qscale_params *p, size_t q0, size_t nq, const float *beta_lin,
                    const float *gamma_lin, float *qscale);

#ifdef __cplusplus
}
#endif
#endif
