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
#include "tiled.h"

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

/* One tile: rows r0 .. r0+nr−1 of head h, and what its steps hand to each other. */
typedef struct tile {
    const sp_attn_params *p;
    size_t q0, r0;             /* absolute position of row 0 of the call; first row of the tile */
    int nr, h, d, dv;
    const float *kb, *vb;      /* this head's key/value head in the cache (GQA) */
    size_t kstride, vstride;
    size_t lo[TQ], hi[TQ];     /* visible keys [lo, hi) of each row */
    size_t lo_min, hi_max;     /* the union of those ranges */
    int dense[TQ];             /* the row's weights are in row[t].w for every visible key */
    size_t m[TQ];              /* weights the normaliser wrote (0 for a row with no keys) */
} tile;

/* Columns [c0, c0 + V_COLS) of the dense rows' outputs, o_t += w_tj·v_j over the keys in
 * order, with the tile's accumulators held in registers across the whole key loop (the same
 * additions, in the same order, as axpy on memory). */
#define V_COLS 64
typedef float v16f __attribute__((vector_size(64)));

static void dense_v_columns(const tile *tl, tile_ws *tw, const float *vb, int c0) {
    const int nr = tl->nr, dv = tl->dv;
    v16f acc[TQ][V_COLS / 16];
    for (int t = 0; t < TQ; t++)
        for (int c = 0; c < V_COLS / 16; c++)
            if (t < nr) memcpy(&acc[t][c], tw->obuf + (size_t)t * dv + c0 + 16 * c, sizeof(v16f));
    for (size_t j = tl->lo_min; j < tl->hi_max; j++) {
        v16f vj[V_COLS / 16];
        for (int c = 0; c < V_COLS / 16; c++) memcpy(&vj[c], vb + j * tl->vstride + 16 * c, sizeof(v16f));
#pragma GCC unroll 4
        for (int t = 0; t < TQ; t++) {
            if (t >= nr || !tl->dense[t] || j < tl->lo[t] || j >= tl->hi[t]) continue;
            const float wj = tw->row[t].w[j - tl->lo[t]];
            if (wj == 0.0f) continue;
            for (int c = 0; c < V_COLS / 16; c++) acc[t][c] += wj * vj[c];
        }
    }
    for (int t = 0; t < nr; t++)
        for (int c = 0; c < V_COLS / 16; c++)
            memcpy(tw->obuf + (size_t)t * dv + c0 + 16 * c, &acc[t][c], sizeof(v16f));
}

/* Step 1: each row's visible keys and its query, scaled once: q' = q · c · scale, so each
 * score costs one dot product. */
static void tile_queries(tile *tl, const float *q, const float *qscale, size_t nk, tile_ws *tw,
                         uint64_t *st) {
    const sp_attn_params *p = tl->p;
    const int H = p->heads, h = tl->h, d = tl->d;
    tl->lo_min = (size_t)-1;
    tl->hi_max = 0;
    for (int t = 0; t < tl->nr; t++) {
        const size_t r = tl->r0 + t;
        visible_range(p, tl->q0 + r, nk, &tl->lo[t], &tl->hi[t]);
        if (tl->hi[t] > tl->lo[t]) {
            tl->lo_min = tl->lo[t] < tl->lo_min ? tl->lo[t] : tl->lo_min;
            tl->hi_max = tl->hi[t] > tl->hi_max ? tl->hi[t] : tl->hi_max;
        }
        const float c = (qscale ? qscale[r * (size_t)H + h] : 1.0f) * p->scale;
        const float *qh = q + r * (size_t)H * d + (size_t)h * d;
        for (int x = 0; x < d; x++) tw->qbuf[t * d + x] = qh[x] * c;
        st[0] += 1;
        st[2] += tl->hi[t] - tl->lo[t];
    }
}

/* Step 2: scores (docs/ATTENTION_MATH.md#scores) in key blocks small enough to stay in L1 while
 * every row of the tile reads them; eight keys per step where a row sees eight in a row. */
static void tile_scores(const tile *tl, tile_ws *tw) {
    enum { KEY_BLOCK = 64 };
    const int d = tl->d;
    const size_t ks = tl->kstride;
    const float cap = tl->p->softcap;
    const float slope = tl->p->alibi_slopes ? tl->p->alibi_slopes[tl->h] : 0.0f;
    for (size_t jb = tl->lo_min; jb < tl->hi_max; jb += KEY_BLOCK) {
        const size_t je = tl->hi_max - jb < KEY_BLOCK ? tl->hi_max : jb + KEY_BLOCK;
        for (int t = 0; t < tl->nr; t++) {
            const size_t lo = tl->lo[t];
            const size_t a = jb > lo ? jb : lo, e = je < tl->hi[t] ? je : tl->hi[t];
            const float *qt = tw->qbuf + t * d;
            float *srow = tw->row[t].s; /* key j at srow[j - lo] */
            size_t j = a;
            for (; j + 8 <= e; j += 8) sp__score_dot8(qt, tl->kb + j * ks, ks, d, srow + (j - lo));
            for (; j < e; j++) srow[j - lo] = sp__score_dot(qt, tl->kb + j * ks, d);
            if (cap > 0.0f)
                for (j = a; j < e; j++) srow[j - lo] = cap * tanhf(srow[j - lo] / cap);
            if (slope != 0.0f)
                for (j = a; j < e; j++)
                    srow[j - lo] += slope * (float)((double)j - (double)(tl->q0 + tl->r0 + t));
        }
    }
}

/* Step 3: each row through the normaliser's row kernel (normalizers.h); a sparse row adds its
 * support's values right away, skipping every key outside it. */
static void tile_normalise(tile *tl, tile_ws *tw, uint64_t *st) {
    const sp_norm_kind *norm = tl->p->norm;
    const int dv = tl->dv;
    for (int t = 0; t < tl->nr; t++) {
        float *o = tw->obuf + (size_t)t * dv;
        memset(o, 0, (size_t)dv * sizeof(float));
        const size_t n = tl->hi[t] - tl->lo[t];
        tl->dense[t] = 0;
        tl->m[t] = 0;
        if (n == 0) continue;
        tl->m[t] = norm->row(tl->p, n, &tw->row[t]);
        tl->dense[t] = !norm->sparse;
        if (tl->dense[t]) continue;
        size_t support = 0;
        for (size_t e = 0; e < tl->m[t]; e++) {
            const float wj = tw->row[t].w[e];
            if (wj == 0.0f) continue;
            support++;
            axpy(o, wj, tl->vb + (tl->lo[t] + tw->row[t].idx[e]) * tl->vstride, dv);
        }
        st[1] += support;
    }
}

/* Step 4: the dense rows, in one pass over V shared by the tile, each row in key order; exact
 * zero weights are skipped. */
static void tile_dense_output(const tile *tl, tile_ws *tw, uint64_t *st) {
    const int nr = tl->nr, dv = tl->dv;
    int any_dense = 0;
    for (int t = 0; t < nr; t++) any_dense |= tl->dense[t] && tl->m[t] > 0;
    if (!any_dense) return;
    size_t support[TQ] = {0};
    for (size_t j = tl->lo_min; j < tl->hi_max; j++)
        for (int t = 0; t < nr; t++)
            support[t] += tl->dense[t] && j >= tl->lo[t] && j < tl->hi[t] &&
                          tw->row[t].w[j - tl->lo[t]] != 0.0f;
    for (int t = 0; t < nr; t++) st[1] += support[t];
    int c0 = 0;
    for (; c0 + V_COLS <= dv; c0 += V_COLS) dense_v_columns(tl, tw, tl->vb + c0, c0);
    for (size_t j = tl->lo_min; c0 < dv && j < tl->hi_max; j++) {
        const float *vj = tl->vb + j * tl->vstride + c0;
        for (int t = 0; t < nr; t++) {
            if (!tl->dense[t] || j < tl->lo[t] || j >= tl->hi[t]) continue;
            const float wj = tw->row[t].w[j - tl->lo[t]];
            if (wj != 0.0f) axpy(tw->obuf + (size_t)t * dv + c0, wj, vj, dv - c0);
        }
    }
}

static void attend_tile(const sp_attn_params *p, const float *q, const float *k, const float *v,
                        const float *qscale, size_t q0, size_t r0, int nr, int h, size_t nk,
                        float *out, tile_ws *tw, uint64_t *st) {
    const int H = p->heads, Hk = p->kv_heads, d = p->head_dim;
    const int dv = p->value_dim > 0 ? p->value_dim : d;
    const int kvh = h / (H / Hk);
    tile tl = {.p = p, .q0 = q0, .r0 = r0, .nr = nr, .h = h, .d = d, .dv = dv,
               .kb = k + (size_t)kvh * d, .vb = v + (size_t)kvh * dv,
               .kstride = (size_t)Hk * d, .vstride = (size_t)Hk * dv};
    tile_queries(&tl, q, qscale, nk, tw, st);
    tile_scores(&tl, tw);
    tile_normalise(&tl, tw, st);
    tile_dense_output(&tl, tw, st);
    for (int t = 0; t < nr; t++)
        memcpy(out + (r0 + t) * (size_t)H * dv + (size_t)h * dv, tw->obuf + (size_t)t * dv,
               (size_t)dv * sizeof(float));
}

void sp_attention_forward(const sp_attn_params *p, const float *q, const float *k,
                          const float *v, const float *qscale, size_t q0, size_t nq, size_t nk,
                          float *out, sp_attn_stats *stats) {
    if (p->norm->tile) { /* softmax and the α-entmax family: tiles of queries × keys */
        sp__attention_tiled(p, q, k, v, qscale, q0, nq, nk, out, stats);
        return;
    }
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
