/* sparse_tiled.c — the α-entmax family (entmax, sparsemax, any α > 1, with or without a query
 * scale) over key tiles, exactly (docs/ATTENTION_MATH.md#tiled-attention, #exact-zeros).
 *
 * Pass 1 streams the score tiles once. Per lane it keeps a running maximum m and only the keys
 * with (α−1)(s − m) > −1 at the time they are seen: since m only grows, that is a superset of
 * the row's final candidates, in key order, and every other key is exactly zero. The row
 * kernel of the normaliser (through the table, normalizers.h) then runs on the candidate scores
 * alone: it drops the stale ones with the final maximum and solves τ exactly as the row path
 * does, so the weights are those of the row path on the same scores. Pass 2 sums w·v over the
 * support, in key order: value rows of the other keys are never read, and a key tile without a
 * support key is skipped whole (its count goes to the statistics). A NaN score makes its row
 * NaN (docs/ATTENTION_MATH.md#alpha-entmax). */
#include <math.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "normalizers.h"
#include "tiled.h"

/* A lane's list is tightened (tighten) once it holds this many candidates, then each time it
 * has doubled. */
#define TIGHTEN_FROM 64

typedef float v16f __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
#define NV (SP_LN / 16)

/* Bit l set where lane l of a comparison result is true (−1): one instruction where the build
 * targets AVX-512 or AVX2, a loop elsewhere; it only steers which keys are stored. */
static inline uint32_t lane_bits(const v16i *k) {
#if defined(__AVX512F__)
    __m512i x;
    memcpy(&x, k, sizeof x);
    return (uint32_t)_mm512_cmplt_epi32_mask(x, _mm512_setzero_si512());
#elif defined(__AVX2__)
    __m256 lo, hi;
    memcpy(&lo, k, sizeof lo);
    memcpy(&hi, (const char *)k + sizeof lo, sizeof hi);
    return (uint32_t)_mm256_movemask_ps(lo) | (uint32_t)_mm256_movemask_ps(hi) << 8;
#else
    uint32_t b = 0;
    for (int i = 0; i < 16; i++) b |= (uint32_t)((*k)[i] & 1) << i;
    return b;
#endif
}

/* Lanes' running maxima over the tile (NaN and +inf flagged in *nan_lanes), then the
 * keys that can still carry weight — (α−1)(s − m) > −1 and (α−1)s above the lane's lower
 * bound of τ — in key order, into each live lane's tile list (ws->tile_s/tile_j, nc[l]). */
static void collect(const sp_qtile *t, sp_tile_ws *ws, size_t j0, int n, float *m, size_t *nc,
                    const float *tlo, uint32_t *nan_lanes) {
    const float am1 = t->p->alpha - 1.0f;
    const float *sT = ws->sT;
    v16f mx[NV];
    v16i nan[NV];
    memcpy(mx, m, sizeof mx);
    memset(nan, 0, sizeof nan);
    for (int j = 0; j < n; j++)
        for (int u = 0; u < NV; u++) {
            v16f s;
            memcpy(&s, sT + j * SP_LN + 16 * u, sizeof s);
            const v16i gt = s > mx[u];
            mx[u] = (v16f)(((v16i)s & gt) | ((v16i)mx[u] & ~gt));
            nan[u] |= (s != s) | (s == INFINITY); /* no finite maximum */
        }
    memcpy(m, mx, sizeof mx);
    for (int l = 0; l < t->nr; l++)
        if (nan[l / 16][l % 16]) *nan_lanes |= 1u << l;
    uint32_t live = t->nr >= 32 ? 0xffffffffu : (1u << t->nr) - 1u;
    for (int j = 0; j < n; j++) {
        uint32_t bits = 0;
        for (int u = 0; u < NV; u++) {
            v16f s;
            memcpy(&s, sT + j * SP_LN + 16 * u, sizeof s);
            v16f lo;
            memcpy(&lo, tlo + 16 * u, sizeof lo);
            const v16i keep = (am1 * (s - mx[u]) > -1.0f) & (am1 * s > lo);
            bits |= lane_bits(&keep) << (16 * u);
        }
        for (bits &= live; bits; bits &= bits - 1) {
            const int l = __builtin_ctz(bits);
            ws->tile_s[l * SP_TK + nc[l]] = sT[j * SP_LN + l];
            ws->tile_j[l * SP_TK + nc[l]] = (uint32_t)(j0 + (size_t)j);
            nc[l]++;
        }
    }
}

/* collect for a one-row tile (decode) on ws->srow: the same tests as on lane 0 of a tile. */
static void collect_row(const sp_qtile *t, sp_tile_ws *ws, size_t j0, int n, float *m,
                        size_t *nc, const float *tlo, uint32_t *nan_lanes) {
    const float am1 = t->p->alpha - 1.0f;
    const float *s = ws->srow;
    float mx = m[0];
    int nan = 0;
    for (int j = 0; j < n; j++) {
        mx = s[j] > mx ? s[j] : mx;
        nan |= (s[j] != s[j]) | (s[j] == INFINITY);
    }
    m[0] = mx;
    if (nan) *nan_lanes |= 1u;
    for (int j = 0; j < n; j++)
        if (am1 * (s[j] - mx) > -1.0f && am1 * s[j] > tlo[0]) {
            ws->tile_s[nc[0]] = s[j];
            ws->tile_j[nc[0]] = (uint32_t)(j0 + (size_t)j);
            nc[0]++;
        }
}

/* o += w·v (elementwise: vectorising it changes nothing numerically). */
static inline void axpy(float *restrict o, float w, const float *restrict v, int n) {
#pragma omp simd
    for (int x = 0; x < n; x++) o[x] += w * v[x];
}

/* o = Σ w_e·v_key(e) over the row kernel's k weights, in their order, zero weights skipped,
 * for nv·16 value columns held in registers across the whole list: the same additions in
 * the same order as axpy on a zeroed o, without a store and a reload of o per key. */
static inline __attribute__((always_inline)) void support_sum_regs(
    const sp_qtile *t, const sp_row_ws *rw, const uint32_t *keys, size_t k, float *o,
    const int nv) {
    v16f acc[4] = {{0}};
    for (size_t e = 0; e < k; e++) {
        const float w = rw->w[e];
        if (w == 0.0f) continue;
        const float *v = t->vb + (size_t)keys[rw->idx[e]] * t->vs;
        for (int c = 0; c < nv; c++) {
            v16f x;
            memcpy(&x, v + 16 * c, sizeof x);
            acc[c] += w * x;
        }
    }
    for (int c = 0; c < nv; c++) memcpy(o + 16 * c, &acc[c], sizeof acc[c]);
}

/* o (zeroed) = the output over the support; value widths of 16, 32, 48 or 64 in registers. */
static void support_sum(const sp_qtile *t, const sp_row_ws *rw, const uint32_t *keys, size_t k,
                        float *o) {
    switch (t->dv) {
    case 16: support_sum_regs(t, rw, keys, k, o, 1); return;
    case 32: support_sum_regs(t, rw, keys, k, o, 2); return;
    case 48: support_sum_regs(t, rw, keys, k, o, 3); return;
    case 64: support_sum_regs(t, rw, keys, k, o, 4); return;
    default: break;
    }
    for (size_t e = 0; e < k; e++)
        if (rw->w[e] != 0.0f) axpy(o, rw->w[e], t->vb + (size_t)keys[rw->idx[e]] * t->vs, t->dv);
}

/* Lane l: the row kernel on its candidates, then the output over the support. */
static void lane_output(const sp_qtile *t, sp_tile_ws *ws, int l, size_t top, int nan_row,
                        float *o, uint64_t *st) {
    const size_t nc = ws->cap - top;
    const int dv = t->dv;
    memset(o, 0, (size_t)dv * sizeof(float));
    if (t->hi[l] == t->lo[l]) return;
    if (nan_row || nc == 0) { /* a NaN score, or no finite maximum */
        for (int c = 0; c < dv; c++) o[c] = NAN;
        if (t->stats) st[SP_ST_SUPPORT] += 1;
        return;
    }
    sp_row_ws rw = ws->row;
    rw.s = ws->cand_s + (size_t)l * ws->cap + top;
    const uint32_t *keys = ws->cand_j + (size_t)l * ws->cap + top;
    const size_t k = t->p->norm->row(t->p, nc, &rw);
    support_sum(t, &rw, keys, k, o);
    if (!t->stats) return;
    uint64_t support = 0, tiles = 0;
    size_t last_tile = (size_t)-1;
    for (size_t e = 0; e < k; e++) {
        if (rw.w[e] == 0.0f) continue;
        const size_t j = keys[rw.idx[e]];
        support++;
        tiles += j / SP_TK != last_tile;
        last_tile = j / SP_TK;
    }
    const uint64_t visible = (t->hi[l] - 1) / SP_TK - t->lo[l] / SP_TK + 1;
    st[SP_ST_SUPPORT] += support;
    st[SP_ST_TILES] += visible;
    st[SP_ST_TILES_SKIPPED] += visible - tiles;
}

/* Keeps the entries of [top, cap) with am1 · s > lo, compacted toward cap in key order;
 * returns the new top. From the end, sixteen at a time with AVX-512 (the kept ones compressed
 * into the lanes below w: w ≥ i, so nothing still to be read is written), the rest with a
 * branch-free store (write always, step when kept): lists of random rows would mispredict a
 * branch half the time. */
static size_t compact_above(float *cs, uint32_t *cj, size_t top, size_t cap, float am1,
                            float lo) {
    size_t w = cap, i = cap;
#if defined(__AVX512F__)
    const __m512 va = _mm512_set1_ps(am1), vlo = _mm512_set1_ps(lo);
    for (; i >= top + 16; i -= 16) {
        const __m512 s = _mm512_loadu_ps(cs + i - 16);
        const __m512i j = _mm512_loadu_si512(cj + i - 16);
        const __mmask16 k = _mm512_cmp_ps_mask(_mm512_mul_ps(va, s), vlo, _CMP_GT_OQ);
        const unsigned n = (unsigned)__builtin_popcount((unsigned)k);
        const __mmask16 below = (__mmask16)((1u << n) - 1u);
        _mm512_mask_storeu_ps(cs + w - n, below, _mm512_maskz_compress_ps(k, s));
        _mm512_mask_storeu_epi32(cj + w - n, below, _mm512_maskz_compress_epi32(k, j));
        w -= n;
    }
#endif
    while (i-- > top) {
        const float v = cs[i];
        const uint32_t key = cj[i];
        cs[w - 1] = v;
        cj[w - 1] = key;
        w -= (size_t)(am1 * v > lo);
    }
    return w;
}

/* Lane l's candidates are many: solve τ on them as they are. Adding keys only raises τ (in
 * the frame of the raw scores), so that τ, less a margin for rounding, is a lower bound of the
 * row's: every key with (α−1)s at or below it is exactly zero. The list is filtered with it,
 * and so are all later keys (docs/ATTENTION_MATH.md#tiled-attention). Only lane l's own state
 * is read, so a row gets the same list alone (decode) as in a tile. */
static void tighten(const sp_qtile *t, sp_tile_ws *ws, int l, float m, size_t *top, float *tlo) {
    const float am1 = t->p->alpha - 1.0f;
    float *cs = ws->cand_s + (size_t)l * ws->cap;
    uint32_t *cj = ws->cand_j + (size_t)l * ws->cap;
    const size_t c = ws->cap - *top;
    float *x = ws->row.t;
    size_t nx = 0;
    for (size_t i = *top; i < ws->cap; i++) {
        const float xi = am1 * (cs[i] - m);
        if (xi > -1.0f) x[nx++] = xi;
    }
    if (nx == 0 || nx < c / 2) return; /* stale entries first: the next tile's test drops them */
    const int sparsemax = t->p->alpha == 2.0f, e15 = t->p->alpha == 1.5f;
    const double th = sparsemax || e15 ? sp__entmax_tau_exact(x, nx, sparsemax, ws->row.w)
                                       : sp__entmax_tau_solve(x, nx, (double)t->p->alpha);
    const double raw = th + (double)am1 * m;
    const float lo = (float)(raw - 1e-3 * (1.0 + fabs(raw)));
    if (!(lo > tlo[l])) return;
    tlo[l] = lo;
    *top = compact_above(cs, cj, *top, ws->cap, am1, lo);
}

/* 1 if no key of tile [j0, j0 + n) can be a candidate of any live lane, from the bounds
 * s ≤ |q'|·max|k| (capped) + the largest ALiBi bias over the tile, against the lane's running
 * maximum (docs/ATTENTION_MATH.md#tiled-attention). Generous margins: rounding can only make a
 * tile be read that could have been skipped, never the reverse. */
static int tile_skippable(const sp_qtile *t, size_t j0, int n, const float *m) {
    if (!t->ktile_norm) return 0;
    const double am1 = (double)t->p->alpha - 1.0, kn = t->ktile_norm[j0 / SP_TK];
    for (int l = 0; l < t->nr; l++) {
        const size_t a = j0 > t->lo[l] ? j0 : t->lo[l];
        const size_t e = j0 + (size_t)n < t->hi[l] ? j0 + (size_t)n : t->hi[l];
        if (a >= e) continue; /* the lane sees no key of the tile */
        double u = (double)t->qnorm[l] * kn;
        if (t->cap > 0.0f) u = t->cap * tanh(u / t->cap);
        const double i = (double)(t->pos0 + (size_t)l), s = t->slope;
        const double bias = fmax(s * ((double)a - i), s * ((double)e - 1.0 - i));
        const double mm = (double)m[l];
        if (!(am1 * (u + bias - mm) < -1.0 - 1e-3 * (1.0 + am1 * (fabs(mm) + fabs(bias)))))
            return 0;
    }
    return 1;
}

/* Key tiles from the last to the first, so the running maxima are those of the nearest keys
 * (where ALiBi puts them) before the far tiles are judged; each tile's candidates go in front
 * of the later ones', so every lane's list ends up in key order at [top, cap). */
void sp__sparse_tile(const sp_qtile *t, sp_tile_ws *ws, float *out, size_t ostride,
                     uint64_t *st) {
    float m[SP_LN], tlo[SP_LN];
    size_t top[SP_LN], nc[SP_LN], next[SP_LN];
    uint32_t nan_lanes = 0;
    for (int l = 0; l < SP_LN; l++) {
        m[l] = tlo[l] = -INFINITY;
        top[l] = ws->cap;
        next[l] = TIGHTEN_FROM;
    }
    const size_t first = t->lo_min / SP_TK * SP_TK;
    for (size_t j0 = t->hi_max > first ? (t->hi_max - 1) / SP_TK * SP_TK + SP_TK : first;
         j0 > first;) {
        j0 -= SP_TK;
        const int n = t->hi_max - j0 < SP_TK ? (int)(t->hi_max - j0) : SP_TK;
        if (tile_skippable(t, j0, n, m)) continue;
        memset(nc, 0, sizeof nc);
        if (t->nr == 1) {
            sp__qtile_scores_row(t, ws, j0, n);
            collect_row(t, ws, j0, n, m, nc, tlo, &nan_lanes);
        } else {
            sp__qtile_scores(t, ws, j0, n);
            collect(t, ws, j0, n, m, nc, tlo, &nan_lanes);
        }
        for (int l = 0; l < t->nr; l++) {
            top[l] -= nc[l];
            memcpy(ws->cand_s + (size_t)l * ws->cap + top[l], ws->tile_s + l * SP_TK, nc[l] * sizeof(float));
            memcpy(ws->cand_j + (size_t)l * ws->cap + top[l], ws->tile_j + l * SP_TK, nc[l] * sizeof(uint32_t));
            if (ws->cap - top[l] < next[l]) continue;
            tighten(t, ws, l, m[l], &top[l], tlo);
            next[l] = 2 * (ws->cap - top[l]) > TIGHTEN_FROM ? 2 * (ws->cap - top[l]) : TIGHTEN_FROM;
        }
    }
    for (int l = 0; l < t->nr; l++)
        lane_output(t, ws, l, top[l], (int)(nan_lanes >> l & 1u), out + (size_t)l * ostride, st);
}
