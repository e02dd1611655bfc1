/* attention.c — sp_attention_forward: per head × query row, scores → normaliser → output.
 *
 * Score of query i (absolute position), key j, head h:
 *     s_ij = softcap(scale · c_ih · q_i·k_j) + m_h·(j − i)
 * The ALiBi bias is added after scaling and the soft cap, and is never scaled. The normaliser
 * runs over the visible keys only (causal: j ≤ i; stick-breaking: j < i; window: i − j < W);
 * masked keys are excluded, never given a large negative score. The output accumulates
 * p_ij·v_j over the support only.
 *
 * Work is split over (row, head) pairs; each pair is computed entirely by one thread in a fixed
 * order, so the result does not depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "attention_internal.h"

/* Visible key range [lo, hi) of the query at absolute position i. */
static void visible_range(const sp_attn_params *p, size_t i, size_t nk, size_t *lo, size_t *hi) {
    size_t h = nk;
    if (p->normalizer == SP_NORM_STICKBREAKING) h = i < nk ? i : nk;
    else if (p->causal) h = i + 1 < nk ? i + 1 : nk;
    size_t l = 0;
    if (p->window > 0 && i + 1 > (size_t)p->window) l = i + 1 - (size_t)p->window;
    *lo = l;
    *hi = h > l ? h : l;
}

/* Normalises s[0..n) (n >= 1); returns the number of support entries described by (idx, w),
 * or sets *dense when w[0..n) is the weight of every key. */
static size_t normalize_row(const sp_attn_params *p, size_t n, sp_row_ws *ws, int *dense) {
    *dense = 0;
    switch (p->normalizer) {
    case SP_NORM_SOFTMAX:
        sp__softmax_row(ws->s, n, ws->w);
        *dense = 1;
        return n;
    case SP_NORM_ENTMAX:
        return sp__entmax_row(ws->s, n, p->alpha, ws->idx, ws->w, ws->t, NULL);
    case SP_NORM_ADAPTIVE_SOFTMAX:
        sp__adaptive_softmax_row(ws->s, n, ws->w);
        *dense = 1;
        return n;
    case SP_NORM_STICKBREAKING:
        sp__stickbreaking_row(ws->s, n, ws->w);
        *dense = 1;
        return n;
    case SP_NORM_TOPK: {
        size_t k = p->topk > 0 ? (size_t)p->topk : 1;
        if (p->topk_div2 && n / 2 > k) k = n / 2;
        return sp__topk_row(ws->s, n, k, ws->idx, ws->w, ws->t);
    }
    default:
        /* not reached: the graph loader rejects unknown normalisers */
        memset(ws->w, 0, n * sizeof(float));
        *dense = 1;
        return n;
    }
}

static void attend_row(const sp_attn_params *p, const float *q, const float *k, const float *v,
                       const float *qscale, size_t q0, size_t r, int h, size_t nk, float *out,
                       sp_row_ws *ws, float *qbuf, uint64_t *st) {
    const int H = p->heads, Hk = p->kv_heads, d = p->head_dim;
    const int dv = p->value_dim > 0 ? p->value_dim : d;
    const int kvh = h / (H / Hk);
    const size_t i = q0 + r;
    float *o = out + r * (size_t)H * dv + (size_t)h * dv;
    memset(o, 0, (size_t)dv * sizeof(float));

    size_t lo, hi;
    visible_range(p, i, nk, &lo, &hi);
    const size_t n = hi - lo;
    st[0] += 1;
    st[2] += n;
    if (n == 0) return;

    /* q' = q · c · scale, so each score costs one dot product. */
    const float c = (qscale ? qscale[r * (size_t)H + h] : 1.0f) * p->scale;
    const float *qh = q + r * (size_t)H * d + (size_t)h * d;
    for (int x = 0; x < d; x++) qbuf[x] = qh[x] * c;

    const size_t kstride = (size_t)Hk * d, vstride = (size_t)Hk * dv;
    const float *kb = k + lo * kstride + (size_t)kvh * d;
    const float cap = p->softcap;
    const float slope = p->alibi_slopes ? p->alibi_slopes[h] : 0.0f;
    for (size_t j = 0; j < n; j++) {
        const float *kj = kb + j * kstride;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int x = 0; x < d; x++) acc += qbuf[x] * kj[x];
        if (cap > 0.0f) acc = cap * tanhf(acc / cap);
        if (slope != 0.0f) acc += slope * (float)((double)(lo + j) - (double)i);
        ws->s[j] = acc;
    }

    int dense;
    size_t m = normalize_row(p, n, ws, &dense);

    const float *vb = v + lo * vstride + (size_t)kvh * dv;
    size_t support = 0;
    for (size_t e = 0; e < m; e++) {
        const float wj = ws->w[e];
        if (wj == 0.0f) continue;
        support++;
        const float *vj = vb + (dense ? e : ws->idx[e]) * vstride;
#pragma omp simd
        for (int x = 0; x < dv; x++) o[x] += wj * vj[x];
    }
    st[1] += support;
}

void sp_attention_forward(const sp_attn_params *p, const float *q, const float *k,
                          const float *v, const float *qscale, size_t q0, size_t nq, size_t nk,
                          float *out, sp_attn_stats *stats) {
    const int H = p->heads;
    const size_t total = nq * (size_t)H;
    const size_t cap = nk > 0 ? nk : 1;
#pragma omp parallel
    {
        sp_row_ws ws;
        ws.s = malloc(cap * sizeof(float));
        ws.w = malloc(cap * sizeof(float));
        ws.t = malloc(cap * sizeof(float));
        ws.idx = malloc(cap * sizeof(uint32_t));
        float *qbuf = malloc((size_t)p->head_dim * sizeof(float) + 1);
        uint64_t *st = calloc((size_t)H * 3, sizeof(uint64_t));
        /* Allocation failure of a few row buffers is not recoverable here; keep it crash-free
         * by computing nothing in this thread (the caller sized memory at session creation). */
        int ok = ws.s && ws.w && ws.t && ws.idx && qbuf && st;
#pragma omp for schedule(dynamic, 8)
        for (size_t t = 0; t < total; t++) {
            if (!ok) continue;
            int h = (int)(t % (size_t)H);
            size_t r = t / (size_t)H;
            attend_row(p, q, k, v, qscale, q0, r, h, nk, out, &ws, qbuf, st + 3 * h);
        }
        if (stats && ok) {
            for (int h = 0; h < H; h++) {
#pragma omp atomic
                stats[h].rows += st[3 * h];
#pragma omp atomic
                stats[h].support += st[3 * h + 1];
#pragma omp atomic
                stats[h].visible += st[3 * h + 2];
            }
        }
        free(ws.s);
        free(ws.w);
        free(ws.t);
        free(ws.idx);
        free(qbuf);
        free(st);
    }
}
