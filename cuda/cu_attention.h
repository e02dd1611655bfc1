/* cu_attention.h — the CUDA module's attention family: the KV cache and the attention kernels
 * behind the graph's `attention` op (docs/ATTENTION_MATH.md; the CPU's is
 * interpreter/attention/). The module's op executor (cu_ops_*.cu) computes q, k, v (after
 * RoPE) and the query scale factors, appends k, v to the layer's cache with
 * cu_kv_append, then calls cu_attention_forward for the call's query rows over every cached
 * key.
 *
 * Kernels by normaliser: softmax and adaptive_softmax (flash-style online softmax over key
 * tiles, causal tiles skipped); entmax (any α) and sparsemax (exact threshold τ per row, then
 * output accumulated only over key tiles whose max score can exceed τ; skipped tiles are
 * counted); stickbreaking and topk through a simpler row kernel. All take ALiBi slopes, the
 * query scale, soft cap, causal mask and window.
 *
 * Everything here works on device pointers and runs on the given stream; nothing blocks the
 * host. Errors are cudaError_t values (the module turns them into sp_error lines).
 */
#ifndef SPARSA_CU_ATTENTION_H
#define SPARSA_CU_ATTENTION_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "sparsa_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A layer's KV cache on the device. bf16: K and V are stored as bf16 (precision bf16), else
 * f32. Layout [max_tokens][kv_heads][head_dim] for K and [max_tokens][kv_heads][value_dim]
 * for V, unless the implementation documents another. */
typedef struct cu_kv {
    void *k, *v;
    size_t max_tokens;
    int kv_heads, head_dim, value_dim;
    int bf16;
} cu_kv;

cudaError_t cu_kv_alloc(cu_kv *kv, const sp_bk_attention *p, size_t max_tokens, int bf16);
void cu_kv_free(cu_kv *kv);
/* Writes rows pos..pos+n-1 from k [n][kv_heads·head_dim], v [n][kv_heads·value_dim] (f32). */
cudaError_t cu_kv_append(cu_kv *kv, const float *k, const float *v, size_t pos, size_t n,
                         cudaStream_t stream);

/* Per-head counters on the device (the module copies them out for sp_session_stats);
 * the same meaning as sp_head_stats. */
typedef struct cu_attn_stats {
    unsigned long long rows, support, visible, tiles, tiles_skipped;
} cu_attn_stats;

typedef struct cu_attn_call {
    const sp_bk_attention *p;   /* host copy of the op's parameters */
    const float *slopes;        /* device [heads] ALiBi slopes, or NULL */
    const float *q;             /* device [nq][heads·head_dim], f32 */
    const float *qscale;        /* device [nq][heads] factors on q, or NULL */
    const cu_kv *kv;            /* keys/values at positions 0..nk-1 */
    size_t q0, nq, nk;          /* query rows are absolute positions q0..q0+nq-1 */
    float *out;                 /* device [nq][heads·value_dim], f32 */
    cu_attn_stats *stats;       /* device [heads] or NULL */
    int precision;              /* sp_precision: fp32 computes in fp32 (parity); bf16 may use
                                 * bf16 tensor cores with fp32 accumulation */
    void *workspace;            /* device scratch of cu_attention_workspace bytes */
    cudaStream_t stream;
} cu_attn_call;

/* 1 if this module runs the op's attention (normaliser and options), else 0 with why filled
 * ("normalizer 'x' has no CUDA kernel"). */
int cu_attention_supported(const sp_bk_attention *p, char *why, size_t why_len);
/* Scratch bytes one call with up to max_q query rows over up to max_k keys needs. */
size_t cu_attention_workspace(const sp_bk_attention *p, size_t max_q, size_t max_k, int precision);
cudaError_t cu_attention_forward(const cu_attn_call *c);

#ifdef __cplusplus
}
#endif
#endif
