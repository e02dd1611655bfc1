/* cu_ops_attention.cu — the `attention` op's glue on the GPU (the CPU's is
 * interpreter/ops_attention.c): append k, v to the layer's KV cache, compute the per-row query
 * scale factors (docs/ATTENTION_MATH.md#query-scaling; asentmax's β/γ projections of h through
 * cuBLAS), then run the attention family (cu_attention.h) for the call's query rows over every
 * cached key. */
#include <math.h>

#include "cu_internal.h"

int cu_attention_upload(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err) {
    const sp_bk_attention *a = &op->u.attn;
    size_t hs = (size_t)(a->scaled_heads > 0 ? a->scaled_heads : 0);
    int rc = cu_floats_upload(a->alibi_slopes, (size_t)a->heads, &dev->vec[0], err);
    if (!rc && a->qscale == SP_BK_QS_ASENTMAX) {
        rc = cu_weight_upload(&a->beta_w, cm->prec, &dev->w[0], err);
        if (!rc) rc = cu_weight_upload(&a->gamma_w, cm->prec, &dev->w[1], err);
        if (!rc) rc = cu_floats_upload(a->beta_b, hs, &dev->vec[1], err);
        if (!rc) rc = cu_floats_upload(a->gamma_b, hs, &dev->vec[2], err);
    } else if (!rc && (a->qscale == SP_BK_QS_SSMAX || a->qscale == SP_BK_QS_LEARN)) {
        rc = cu_floats_upload(a->beta, hs, &dev->vec[1], err);
        if (!rc) rc = cu_floats_upload(a->gamma, hs, &dev->vec[2], err);
    }
    return rc;
}

/* The scale's constants by value in the kernel's parameters. */
typedef struct qs_params {
    int kind, heads, hs, log_offset;
    double delta, gamma_range;
} qs_params;

/* PyTorch's softplus (β = 1, threshold 20). */
static __device__ double softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }

/* qscale[r][h] for rows at positions q0 + r; bl/gl: asentmax's projections [n][hs] (with
 * their biases added here); beta/gamma: the per-head constants. In double, rounded once
 * (interpreter/attention/query_scale.c). */
__global__ static void qscale_kernel(qs_params p, size_t q0, size_t n, const float *bl,
                                     const float *bb, const float *gl, const float *gb,
                                     const float *beta, const float *gamma, float *qscale) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n * (size_t)p.heads) return;
    size_t r = i / (size_t)p.heads;
    int h = (int)(i % (size_t)p.heads), first = p.heads - p.hs, hs = h - first;
    if (hs < 0) {
        qscale[i] = 1.0f;
        return;
    }
    double ell = log((double)(q0 + r) + (double)p.log_offset), c = 1.0;
    if (p.kind == SP_BK_QS_ASENTMAX) {
        float bx = bl[r * p.hs + hs] + (bb ? bb[hs] : 0.0f);
        float gx = gl[r * p.hs + hs] + (gb ? gb[hs] : 0.0f);
        c = p.delta + softplus(bx) * pow(ell, p.gamma_range * tanh((double)gx));
    } else if (p.kind == SP_BK_QS_SSMAX) {
        c = ell * beta[hs];
    } else if (p.kind == SP_BK_QS_LEARN) {
        c = p.delta + beta[hs] * pow(ell, (double)gamma[hs]);
    }
    qscale[i] = (float)c;
}

/* Fills the scratch CU_SCR_QSCALE with [n][heads] factors; *out NULL when none. */
static int query_scale(cu_exec *ex, float **out, sp_error *err) {
    const sp_bk_attention *a = &ex->op->u.attn;
    *out = NULL;
    if (a->qscale == SP_BK_QS_NONE || a->scaled_heads <= 0) return SP_OK;
    size_t hs = (size_t)a->scaled_heads, n = ex->n;
    void *qs, *bl = NULL, *gl = NULL;
    int rc = cu_scratch(ex->s, CU_SCR_QSCALE, n * (size_t)a->heads * sizeof(float), &qs, err);
    if (!rc && a->qscale == SP_BK_QS_ASENTMAX) {
        size_t hw = ex->op->in_width[3];
        rc = cu_scratch(ex->s, CU_SCR_QS_BETA, n * hs * sizeof(float), &bl, err);
        if (!rc) rc = cu_scratch(ex->s, CU_SCR_QS_GAMMA, n * hs * sizeof(float), &gl, err);
        const float *h = ex->in[3];
        int hv = ex->op->in[3];
        if (!rc) rc = cu_gemm(ex->s, h, hv, n, hw, &ex->dev->w[0], 0, hs, (float *)bl, hs, err);
        if (!rc) rc = cu_gemm(ex->s, h, hv, n, hw, &ex->dev->w[1], 0, hs, (float *)gl, hs, err);
    }
    if (rc) return rc;
    qs_params p = {(int)a->qscale, a->heads, (int)hs, a->log_offset, (double)a->delta,
                   (double)a->gamma_range};
    const float *cb = a->qscale == SP_BK_QS_ASENTMAX ? NULL : ex->dev->vec[1];
    const float *cg = a->qscale == SP_BK_QS_ASENTMAX ? NULL : ex->dev->vec[2];
    const float *bb = a->qscale == SP_BK_QS_ASENTMAX ? ex->dev->vec[1] : NULL;
    const float *gb = a->qscale == SP_BK_QS_ASENTMAX ? ex->dev->vec[2] : NULL;
    qscale_kernel<<<cu_blocks(n * (size_t)a->heads), CU_THREADS, 0, ex->s->stream>>>(
        p, ex->pos0, n, (const float *)bl, bb, (const float *)gl, gb, cb, cg, (float *)qs);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return cu_fail_cuda(err, e, "query scale", 0);
    *out = (float *)qs;
    return SP_OK;
}

/* One sequence's rows: ex->n query rows at positions pos0.. over the cached keys. */
static int attention_rows(cu_exec *ex, sp_error *err) {
    cu_session *s = ex->s;
    const sp_bk_attention *a = &ex->op->u.attn;
    cu_kv *kv = &s->kv[ex->op->layer];
    cudaError_t e = cu_kv_append(kv, ex->in[1], ex->in[2], ex->pos0, ex->n, s->stream);
    if (e != cudaSuccess) return cu_fail_cuda(err, e, "appending to the KV cache", 0);
    float *qscale;
    int rc = query_scale(ex, &qscale, err);
    if (rc) return rc;
    size_t nk = ex->pos0 + ex->n;
    size_t ws_bytes = cu_attention_workspace(a, ex->n, nk, (int)s->attn_prec);
    void *ws = NULL;
    if (ws_bytes && (rc = cu_scratch(s, CU_SCR_ATTN, ws_bytes, &ws, err))) return rc;
    cu_attn_call call = {};
    call.p = a;
    call.slopes = ex->dev->vec[0];
    call.q = ex->in[0];
    call.qscale = qscale;
    call.kv = kv;
    call.q0 = ex->pos0;
    call.nq = ex->n;
    call.nk = nk;
    call.out = ex->out;
    call.stats = s->stats_on ? s->stats[ex->op->layer] : NULL;
    call.precision = (int)s->attn_prec;
    call.workspace = ws;
    call.stream = s->stream;
    e = cu_attention_forward(&call);
    if (e != cudaSuccess) return cu_fail_cuda(err, e, "attention", 0);
    return SP_OK;
}

/* Rows that hold several sequences (batched windows) run one sequence at a time, each on the
 * layer's cache from position pos0: the next sequence's append overwrites the last one's keys
 * only after its attention has run (one stream). */
int cu_run_attention(cu_exec *ex, sp_error *err) {
    size_t len = ex->seq_len;
    if (!len || len >= ex->n) return attention_rows(ex, err);
    int rc = SP_OK;
    for (size_t r0 = 0; !rc && r0 < ex->n; r0 += len) {
        cu_exec one = *ex;
        one.n = ex->n - r0 < len ? ex->n - r0 : len;
        one.seq_len = 0;
        for (int j = 0; j < ex->op->n_in && j < 4; j++)
            if (ex->in[j]) one.in[j] = ex->in[j] + r0 * ex->op->in_width[j];
        one.out = ex->out + r0 * ex->op->out_width;
        rc = attention_rows(&one, err);
    }
    return rc;
}
