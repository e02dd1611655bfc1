/* attention.h — the attention family: scores, positional bias, normalisers, output.
 *
 * This is the kernel behind the graph's `attention` op (format/GRAPH.md §5). The interpreter
 * projects q, k, v, applies RoPE, appends k, v to the KV cache, computes the per-row query
 * scale factors (sp_query_scale_*), then calls sp_attention_forward.
 *
 * Normalisers, for one query row over its visible keys (scores s_j):
 *  - softmax: exp(s_j - max) / Σ.
 *  - entmax α > 1: p_j = [(α−1)s_j − τ]_+^(1/(α−1)), Σ p = 1. Exact sort-based τ for α = 1.5
 *    and α = 2 (sparsemax); for other α a converged bracketed Halley/bisection solve, then the
 *    output renormalised. Keys with s_j ≤ max − 1/(α−1) are exactly zero and are skipped (never
 *    raised to a power, never multiplied into V).
 *  - adaptive_softmax: the poly-fit baseline of the reference code (ascending-power polynomial
 *    in the entropy, β = max(1, poly(H)) if H > 0.5), softmax(β·s).
 *  - stickbreaking: strictly earlier keys only; β_j = σ(s_j), A_j = β_j Π_{j<k<i}(1 − β_k);
 *    the remainder is discarded (query 0 outputs zeros).
 *  - topk: softmax over the k largest visible scores, zeros elsewhere; k = topk, or
 *    max(topk, visible/2) with topk_div2 (per row, as the reference computes it); equal scores
 *    are ranked by key index (the lower index wins), so the selection is deterministic.
 *  Rows whose scores are not finite (NaN, ±inf) give NaN outputs, never a crash.
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

typedef enum {
    SP_NORM_SOFTMAX = 0,
    SP_NORM_ENTMAX,            /* uses alpha; alpha == 2 is sparsemax */
    SP_NORM_ADAPTIVE_SOFTMAX,
    SP_NORM_STICKBREAKING,
    SP_NORM_TOPK
} sp_normalizer;

typedef struct sp_attn_params {
    int heads, kv_heads, head_dim, value_dim;
    float scale;               /* multiplies q·k */
    int causal;
    int window;                /* 0 = none */
    float softcap;             /* 0 = none */
    sp_normalizer normalizer;
    float alpha;               /* entmax */
    int topk;                  /* topk */
    int topk_div2;             /* k = max(topk, visible/2) */
    const float *alibi_slopes; /* [heads] or NULL */
} sp_attn_params;

/* Per head, accumulated by sp_attention_forward when not NULL. */
typedef struct sp_attn_stats {
    uint64_t rows, support, visible;
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

/* ---- length-dependent query scaling (GRAPH.md §5) ---------------------------------------- */

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
