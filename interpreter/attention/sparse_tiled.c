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
 * keys that can still carry weight, appended to each live lane's candidate list. */
static void collect(const sp_qtile *t, sp_tile_ws *ws, size_t j0, int n, float *m, size_t *nc,
                    uint32_t *nan_lanes) {
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
            const v16i keep = am1 * (s - mx[u]) > -1.0f;
            bits |= lane_bits(&keep) << (16 * u);
        }
        for (bits &= live; bits; bits &= bits - 1) {
            const int l = __builtin_ctz(bits);
            ws->cand_s[(size_t)l * ws->cap + nc[l]] = sT[j * SP_LN + l];
            ws->cand_j[(size_t)l * ws->cap + nc[l]] = (uint32_t)(j0 + (size_t)j);
            nc[l]++;
        }
    }
}

/* collect for a one-row tile (decode) on ws->srow: the same tests as on lane 0 of a tile. */
static void collect_row(const sp_qtile *t, sp_tile_ws *ws, size_t j0, int n, float *m,
                        size_t *nc, uint32_t *nan_lanes) {
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
        if (am1 * (s[j] - mx) > -1.0f) {
            ws->cand_s[nc[0]] = s[j];
            ws->cand_j[nc[0]] = (uint32_t)(j0 + (size_t)j);
            nc[0]++;
        }
}

/* o += w·v (elementwise: vectorising it changes nothing numerically). */
static inline void axpy(float *restrict o, float w, const float *restrict v, int n) {
#pragma omp simd
    for (int x = 0; x < n; x++) o[x] += w * v[x];
}

/* Lane l: the row kernel on its candidates, then the output over the support. */
static void lane_output(const sp_qtile *t, sp_tile_ws *ws, int l, size_t nc, int nan_row,
                        float *o, uint64_t *st) {
    const int dv = t->dv;
    memset(o, 0, (size_t)dv * sizeof(float));
    if (t->hi[l] == t->lo[l]) return;
    if (nan_row || nc == 0) { /* a NaN score, or no finite maximum */
        for (int c = 0; c < dv; c++) o[c] = NAN;
        if (t->stats) st[SP_ST_SUPPORT] += 1;
        return;
    }
    sp_row_ws rw = ws->row;
    rw.s = ws->cand_s + (size_t)l * ws->cap;
    const uint32_t *keys = ws->cand_j + (size_t)l * ws->cap;
    const size_t k = t->p->norm->row(t->p, nc, &rw);
    uint64_t support = 0, tiles = 0;
    size_t last_tile = (size_t)-1;
    for (size_t e = 0; e < k; e++) {
        const float w = rw.w[e];
        if (w == 0.0f) continue;
        const size_t j = keys[rw.idx[e]];
        support++;
        tiles += j / SP_TK != last_tile;
        last_tile = j / SP_TK;
        axpy(o, w, t->vb + j * t->vs, dv);
    }
    if (t->stats) {
        const uint64_t visible = (t->hi[l] - 1) / SP_TK - t->lo[l] / SP_TK + 1;
        st[SP_ST_SUPPORT] += support;
        st[SP_ST_TILES] += visible;
        st[SP_ST_TILES_SKIPPED] += visible - tiles;
    }
}

void sp__sparse_tile(const sp_qtile *t, sp_tile_ws *ws, float *out, size_t ostride,
                     uint64_t *st) {
    float m[SP_LN];
    size_t nc[SP_LN] = {0};
    uint32_t nan_lanes = 0;
    for (int l = 0; l < SP_LN; l++) m[l] = -INFINITY;
    for (size_t j0 = t->lo_min / SP_TK * SP_TK; j0 < t->hi_max; j0 += SP_TK) {
        const int n = t->hi_max - j0 < SP_TK ? (int)(t->hi_max - j0) : SP_TK;
        if (t->nr == 1) {
            sp__qtile_scores_row(t, ws, j0, n);
            collect_row(t, ws, j0, n, m, nc, &nan_lanes);
            continue;
        }
        sp__qtile_scores(t, ws, j0, n);
        collect(t, ws, j0, n, m, nc, &nan_lanes);
    }
    for (int l = 0; l < t->nr; l++)
        lane_output(t, ws, l, nc[l], (int)(nan_lanes >> l & 1u), out + (size_t)l * ostride, st);
}
