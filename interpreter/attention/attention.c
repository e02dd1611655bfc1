/* attention.c — sp_attention_forward: per head × query row, scores → normaliser → output.
 *
 * Score of query i (absolute position), key j, head h:
 *     s_ij = softcap(scale · c_ih · q_i·k_j) + m_h·(j − i)
 (docs/ATTENTION_MATH.md#scores). The ALiBi bias is added after scaling and the soft cap, and
 * is never scaled. The normaliser (a row of normalizers.h) runs over the visible keys only
 * (causal: j ≤ i; a normaliser marked before_query, stick-breaking: j < i; window: i − j < W);
 * masked keys are excluded, never given a large negative score. The output accumulates
 * p_ij·v_j over the support only: a sparse normaliser hands over its support list, a dense one
 * all weights, of which exact zeros are skipped as well (docs/ATTENTION_MATH.md#exact-zeros).
 *
 * Work is split over (row, head) pairs; each pair is computed entirely by one thread in a fixed
 * order, so the result does not depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "normalizers.h"

/* Visible key range [lo, hi) of the query at absolute position i. */
static void visible_range(const sp_attn_params *p, size_t i, size_t nk, size_t *lo, size_t *hi) {
    size_t h = nk;
    if (p->norm->before_query) h = i < nk ? i : nk;
    else if (p->causal) h = i + 1 < nk ? i + 1 : nk;
    size_t l = 0;
    if (p->window > 0 && i + 1 > (size_t)p->window) l = i + 1 - (size_t)p->window;
    *lo = l;
    *hi = h > l ? h : l;
}

/* o += w·v (elementwise, so vectorising it changes nothing numerically). */
static inline void axpy(float *restrict o, float w, const float *restrict v, int n) {
#pragma omp simd
    for (int x = 0; x < n; x++) o[x] += w * v[x];
}

/* Queries are processed in tiles of up to TQ consecutive rows of one head: each key and value
 * row is loaded once per tile instead of once per query, which keeps K/V traffic out of the
 * memory bound at long context. Scores live in per-thread row buffers (TQ rows of nk floats);
 * no [nq, nk] matrix is ever formed. */
#define TQ 4

typedef struct tile_ws {
    sp_row_ws row[TQ];
    float *qbuf;   /* [TQ][d] scaled queries */
    float *obuf;   /* [TQ][dv] output accumulators */
} tile_ws;

/* Columns [c0, c0 + V_COLS) of the dense rows' outputs, o_t += w_tj·v_j over the keys in
 * order, with the tile's accumulators held in registers across the whole key loop (the same
 * additions, in the same order, as axpy on memory). */
#define V_COLS 64
typedef float v16f __attribute__((vector_size(64)));

static void dense_v_columns(tile_ws *tw, int nr, const int *dense, const size_t *lo, const size_t *hi,
                            size_t lo_min, size_t hi_max, const float *vb, size_t vstride, int dv, int c0) {
    v16f acc[TQ][V_COLS / 16];
    for (int t = 0; t < TQ; t++)
        for (int c = 0; c < V_COLS / 16; c++)
            if (t < nr) memcpy(&acc[t][c], tw->obuf + (size_t)t * dv + c0 + 16 * c, sizeof(v16f));
    for (size_t j = lo_min; j < hi_max; j++) {
        v16f vj[V_COLS / 16];
        for (int c = 0; c < V_COLS / 16; c++) memcpy(&vj[c], vb + j * vstride + 16 * c, sizeof(v16f));
#pragma GCC unroll 4
        for (int t = 0; t < TQ; t++) {
            if (t >= nr || !dense[t] || j < lo[t] || j >= hi[t]) continue;
            const float wj = tw->row[t].w[j - lo[t]];
            if (wj == 0.0f) continue;
            for (int c = 0; c < V_COLS / 16; c++) acc[t][c] += wj * vj[c];
        }
    }
    for (int t = 0; t < nr; t++)
        for (int c = 0; c < V_COLS / 16; c++)
            memcpy(tw->obuf + (size_t)t * dv + c0 + 16 * c, &acc[t][c], sizeof(v16f));
}

static void attend_tile(const sp_attn_params *p, const float *q, const float *k, const float *v,
                        const float *qscale, size_t q0, size_t r0, int nr, int h, size_t nk,
                        float *out, tile_ws *tw, uint64_t *st) {
    const int H = p->heads, Hk = p->kv_heads, d = p->head_dim;
    const int dv = p->value_dim > 0 ? p->value_dim : d;
    const int kvh = h / (H / Hk);
    const size_t kstride = (size_t)Hk * d, vstride = (size_t)Hk * dv;
    const float *kb = k + (size_t)kvh * d, *vb = v + (size_t)kvh * dv;
    const float cap = p->softcap;
    const float slope = p->alibi_slopes ? p->alibi_slopes[h] : 0.0f;

    size_t lo[TQ], hi[TQ], lo_min = (size_t)-1, hi_max = 0;
    for (int t = 0; t < nr; t++) {
        const size_t r = r0 + t;
        visible_range(p, q0 + r, nk, &lo[t], &hi[t]);
        if (hi[t] > lo[t]) {
            lo_min = lo[t] < lo_min ? lo[t] : lo_min;
            hi_max = hi[t] > hi_max ? hi[t] : hi_max;
        }
        /* q' = q · c · scale, so each score costs one dot product. */
        const float c = (qscale ? qscale[r * (size_t)H + h] : 1.0f) * p->scale;
        const float *qh = q + r * (size_t)H * d + (size_t)h * d;
        for (int x = 0; x < d; x++) tw->qbuf[t * d + x] = qh[x] * c;
        st[0] += 1;
        st[2] += hi[t] - lo[t];
    }

    /* scores: key blocks small enough to stay in L1 while every row of the tile reads them;
     * eight keys per step where a row sees eight in a row */
    enum { KEY_BLOCK = 64 };
    for (size_t jb = lo_min; jb < hi_max; jb += KEY_BLOCK) {
        const size_t je = hi_max - jb < KEY_BLOCK ? hi_max : jb + KEY_BLOCK;
        for (int t = 0; t < nr; t++) {
            const size_t a = jb > lo[t] ? jb : lo[t], e = je < hi[t] ? je : hi[t];
            const float *qt = tw->qbuf + t * d;
            float *srow = tw->row[t].s; /* key j at srow[j - lo[t]] */
            size_t j = a;
            for (; j + 8 <= e; j += 8) sp__score_dot8(qt, kb + j * kstride, kstride, d, srow + (j - lo[t]));
            for (; j < e; j++) srow[j - lo[t]] = sp__score_dot(qt, kb + j * kstride, d);
            if (cap > 0.0f)
                for (j = a; j < e; j++) srow[j - lo[t]] = cap * tanhf(srow[j - lo[t]] / cap);
            if (slope != 0.0f)
                for (j = a; j < e; j++)
                    srow[j - lo[t]] += slope * (float)((double)j - (double)(q0 + r0 + t));
        }
    }

    /* normalise each row; sparse rows accumulate their support right away */
    int dense[TQ];
    size_t m[TQ];
    for (int t = 0; t < nr; t++) {
        float *o = tw->obuf + (size_t)t * dv;
        memset(o, 0, (size_t)dv * sizeof(float));
        const size_t n = hi[t] - lo[t];
        dense[t] = 0;
        m[t] = 0;
        if (n == 0) continue;
        m[t] = p->norm->row(p, n, &tw->row[t]);
        dense[t] = !p->norm->sparse;
        if (dense[t]) continue;
        size_t support = 0;
        for (size_t e = 0; e < m[t]; e++) {
            const float wj = tw->row[t].w[e];
            if (wj == 0.0f) continue;
            support++;
            const float *vj = vb + (lo[t] + tw->row[t].idx[e]) * vstride;
            axpy(o, wj, vj, dv);
        }
        st[1] += support;
    }

    /* dense rows: one pass over V shared by the tile, each row in key order */
    int any_dense = 0;
    for (int t = 0; t < nr; t++) any_dense |= dense[t] && m[t] > 0;
    if (any_dense) {
        size_t support[TQ] = {0};
        for (size_t j = lo_min; j < hi_max; j++)
            for (int t = 0; t < nr; t++)
                support[t] += dense[t] && j >= lo[t] && j < hi[t] && tw->row[t].w[j - lo[t]] != 0.0f;
        for (int t = 0; t < nr; t++) st[1] += support[t];
        int c0 = 0;
        for (; c0 + V_COLS <= dv; c0 += V_COLS) dense_v_columns(tw, nr, dense, lo, hi, lo_min, hi_max, vb + c0, vstride, dv, c0);
        for (size_t j = lo_min; c0 < dv && j < hi_max; j++) {
            const float *vj = vb + j * vstride + c0;
            for (int t = 0; t < nr; t++) {
                if (!dense[t] || j < lo[t] || j >= hi[t]) continue;
                const float wj = tw->row[t].w[j - lo[t]];
                if (wj != 0.0f) axpy(tw->obuf + (size_t)t * dv + c0, wj, vj, dv - c0);
            }
        }
    }

    for (int t = 0; t < nr; t++)
        memcpy(out + (r0 + t) * (size_t)H * dv + (size_t)h * dv, tw->obuf + (size_t)t * dv,
               (size_t)dv * sizeof(float));
}

void sp_attention_forward(const sp_attn_params *p, const float *q, const float *k,
                          const float *v, const float *qscale, size_t q0, size_t nq, size_t nk,
                          float *out, sp_attn_stats *stats) {
    const int H = p->heads;
    const int d = p->head_dim, dv = p->value_dim > 0 ? p->value_dim : p->head_dim;
    const size_t tiles = (nq + TQ - 1) / TQ;
    const size_t total = tiles * (size_t)H;
    const size_t cap = nk > 0 ? nk : 1;
    /* Small calls (decode of a short context) are not worth waking the thread team for. The
     * result is the same either way: every tile is computed the same way by whichever thread. */
    const int parallel = total > 1 && (double)nq * (double)nk * H * d >= 1 << 16;
#pragma omp parallel if (parallel)
    {
        tile_ws tw;
        int ok = 1;
        const int tq = nq < TQ ? (int)nq : TQ; /* decode needs one row of buffers, not TQ */
        for (int t = 0; t < TQ; t++) {
            tw.row[t].s = t < tq ? malloc(cap * sizeof(float)) : NULL;
            tw.row[t].w = t < tq ? malloc(cap * sizeof(float)) : NULL;
            /* t and idx are needed one row at a time */
            tw.row[t].t = t == 0 ? malloc(cap * sizeof(float)) : tw.row[0].t;
            tw.row[t].idx = t == 0 ? malloc(cap * sizeof(uint32_t)) : tw.row[0].idx;
            ok = ok && (t >= tq || (tw.row[t].s && tw.row[t].w)) && tw.row[t].t && tw.row[t].idx;
        }
        tw.qbuf = malloc((size_t)TQ * d * sizeof(float) + 1);
        tw.obuf = malloc((size_t)TQ * dv * sizeof(float) + 1);
        uint64_t *st = calloc((size_t)H * 3, sizeof(uint64_t));
        /* Allocation failure of a few row buffers is not recoverable here; keep it crash-free
         * by computing nothing in this thread (the caller sized memory at session creation). */
        ok = ok && tw.qbuf && tw.obuf && st;
        /* heads innermost: neighbouring work items share the same query rows */
#pragma omp for schedule(dynamic, 1)
        for (size_t item = 0; item < total; item++) {
            if (!ok) continue;
            const int h = (int)(item % (size_t)H);
            const size_t r0 = (item / (size_t)H) * TQ;
            const int nr = (int)(nq - r0 < TQ ? nq - r0 : TQ);
            attend_tile(p, q, k, v, qscale, q0, r0, nr, h, nk, out, &tw, st + 3 * h);
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
        for (int t = 0; t < TQ; t++) {
            free(tw.row[t].s);
            free(tw.row[t].w);
        }
        free(tw.row[0].t);
        free(tw.row[0].idx);
        free(tw.qbuf);
        free(tw.obuf);
        free(st);
    }
}
