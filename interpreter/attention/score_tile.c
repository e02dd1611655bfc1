/* score_tile.c — a query tile's setup and its score tiles (tiled.h): visible ranges, the
 * scaled queries transposed for the score kernel, and s = softcap(q'·k) + m_h(j − i) per key
 * tile (docs/ATTENTION_MATH.md#scores), masked keys at −inf. */
#include <math.h>
#include <string.h>

#include "normalizers.h"
#include "tiled.h"

void sp__qtile_init(sp_qtile *t, const float *q, const float *qscale, size_t q0, size_t r0,
                    size_t nk, sp_tile_ws *ws, uint64_t *st) {
    const sp_attn_params *p = t->p;
    const int H = p->heads, d = t->d;
    t->pos0 = q0 + r0;
    t->lo_min = t->hi_min = (size_t)-1;
    t->lo_max = t->hi_max = 0;
    memset(ws->qT, 0, (size_t)d * SP_LN * sizeof(float));
    /* The tile's query rows are rarely cached (a layer's queries are L rows of every head):
     * ask for all their lines at once rather than waiting for each in turn. */
    for (int l = 0; l < t->nr; l++)
        for (int x = 0; x < d; x += 16)
            __builtin_prefetch(q + (r0 + (size_t)l) * (size_t)H * d + (size_t)t->h * d + x);
    for (int l = 0; l < t->nr; l++) {
        const size_t i = t->pos0 + (size_t)l;
        size_t hi = p->causal ? (i + 1 < nk ? i + 1 : nk) : nk, lo = 0;
        if (p->window > 0 && i + 1 > (size_t)p->window) lo = i + 1 - (size_t)p->window;
        if (hi < lo) hi = lo;
        t->lo[l] = lo;
        t->hi[l] = hi;
        if (hi > lo) {
            t->lo_min = lo < t->lo_min ? lo : t->lo_min;
            t->lo_max = lo > t->lo_max ? lo : t->lo_max;
            t->hi_min = hi < t->hi_min ? hi : t->hi_min;
            t->hi_max = hi > t->hi_max ? hi : t->hi_max;
        }
        /* q' = q · c · scale, rounded once: each score is then one dot product */
        const float c = (qscale ? qscale[(r0 + (size_t)l) * (size_t)H + t->h] : 1.0f) * p->scale;
        const float *qh = q + (r0 + (size_t)l) * (size_t)H * d + (size_t)t->h * d;
        for (int x = 0; x < d; x++) ws->qT[(size_t)x * SP_LN + l] = qh[x] * c;
        if (t->nr == 1)
            for (int x = 0; x < d; x++) ws->qrow[x] = qh[x] * c;
        /* |q'|, for skipping whole score tiles: only where key tile bounds exist */
        if (t->ktile_norm) {
            double sq = 0.0;
            for (int x = 0; x < d; x++) sq += (double)ws->qT[(size_t)x * SP_LN + l] * ws->qT[(size_t)x * SP_LN + l];
            t->qnorm[l] = (float)sqrt(sq);
        }
        st[SP_ST_ROWS] += 1;
        st[SP_ST_VISIBLE] += hi - lo;
    }
    if (t->hi_max == 0) t->lo_min = t->hi_min = 0;
}

void sp__qtile_scores(const sp_qtile *t, sp_tile_ws *ws, size_t j0, int n) {
    float *sT = ws->sT;
    t->kern->qk(ws->qT, t->kb + j0 * t->ks, t->ks, t->d, n, sT);
    const int nr = t->nr;
    if (t->cap > 0.0f) {
        const float cap = t->cap;
        for (int j = 0; j < n; j++)
            for (int l = 0; l < nr; l++) sT[j * SP_LN + l] = cap * tanhf(sT[j * SP_LN + l] / cap);
    }
    if (t->slope != 0.0f) {
        /* m_h·(j − i): the key offset is an integer below 2^24 in magnitude, exact as a float */
        const float slope = t->slope;
        const long long base = (long long)j0 - (long long)t->pos0;
        for (int j = 0; j < n; j++)
            for (int l = 0; l < SP_LN; l++)
                sT[j * SP_LN + l] += slope * (float)(base + j - l);
    }
    const size_t e = j0 + (size_t)n;
    if (j0 >= t->lo_max && e <= t->hi_min) return; /* every live lane sees every key */
    for (int l = 0; l < nr; l++) {
        if (j0 >= t->lo[l] && e <= t->hi[l]) continue;
        for (int j = 0; j < n; j++)
            if (j0 + (size_t)j < t->lo[l] || j0 + (size_t)j >= t->hi[l]) sT[j * SP_LN + l] = -INFINITY;
    }
}

void sp__qtile_scores_row(const sp_qtile *t, sp_tile_ws *ws, size_t j0, int n) {
    float *s = ws->srow;
    t->kern->qk_row(ws->qrow, t->kb + j0 * t->ks, t->ks, t->d, n, s);
    if (t->cap > 0.0f)
        for (int j = 0; j < n; j++) s[j] = t->cap * tanhf(s[j] / t->cap);
    if (t->slope != 0.0f) {
        const long long base = (long long)j0 - (long long)t->pos0;
        for (int j = 0; j < n; j++) s[j] += t->slope * (float)(base + j);
    }
    for (int j = 0; j < n; j++)
        if (j0 + (size_t)j < t->lo[0] || j0 + (size_t)j >= t->hi[0]) s[j] = -INFINITY;
}
