/* attention_tiled.c — the driver of the tiled path (tiled.h): query tiles of SP_ATTN_LANES rows
 * × heads, taken dynamically by the threads; each tile is computed whole by one thread through
 * its normaliser's tile function, so the result does not depend on the thread count. Scratch
 * is per thread and O(L): a few tiles, plus, for the sparse normalisers, candidate lists and
 * the row kernel's buffers of nk entries (docs/ATTENTION_MATH.md#tiled-attention). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normalizers.h"
#include "tiled.h"

static void ws_free(sp_tile_ws *ws) {
    free(ws->qT);
    free(ws->sT);
    free(ws->oT);
    free(ws->orow);
    free(ws->qrow);
    free(ws->srow);
    free(ws->cand_s);
    free(ws->cand_j);
    free(ws->tile_s);
    free(ws->tile_j);
    free(ws->row.w);
    free(ws->row.t);
    free(ws->row.idx);
}

/* 0 on success; the sparse normalisers' buffers only when the normaliser has exact zeros. */
static int ws_alloc(sp_tile_ws *ws, const sp_attn_params *p, size_t nk) {
    const int dv = p->value_dim > 0 ? p->value_dim : p->head_dim;
    memset(ws, 0, sizeof *ws);
    ws->qT = malloc((size_t)p->head_dim * SP_LN * sizeof(float));
    ws->sT = malloc((size_t)SP_TK * SP_LN * sizeof(float));
    ws->oT = malloc((size_t)dv * SP_LN * sizeof(float));
    ws->orow = malloc((size_t)dv * sizeof(float));
    ws->qrow = malloc((size_t)p->head_dim * sizeof(float));
    ws->srow = malloc((size_t)SP_TK * sizeof(float));
    int ok = ws->qT && ws->sT && ws->oT && ws->orow && ws->qrow && ws->srow;
    if (p->norm->sparse) {
        const size_t cap = nk > 0 ? nk : 1;
        ws->cap = cap;
        ws->cand_s = malloc(cap * SP_LN * sizeof(float));
        ws->cand_j = malloc(cap * SP_LN * sizeof(uint32_t));
        ws->row.w = malloc(cap * sizeof(float));
        ws->row.t = malloc(cap * sizeof(float));
        ws->row.idx = malloc(cap * sizeof(uint32_t));
        ws->tile_s = malloc((size_t)SP_LN * SP_TK * sizeof(float));
        ws->tile_j = malloc((size_t)SP_LN * SP_TK * sizeof(uint32_t));
        ok = ok && ws->cand_s && ws->cand_j && ws->row.w && ws->row.t && ws->row.idx &&
             ws->tile_s && ws->tile_j;
    }
    return ok ? 0 : -1;
}

/* Upper bounds of |k_j| over each key tile of each key/value head, [kv_heads][tiles], slightly
 * enlarged so that rounding can never make a bound too small, for the tiles below key `seen`
 * (the others: inf). The cache is read once, row by row, sixteen products at a time. NULL if
 * out of memory. */
static float *key_tile_norms(const sp_attn_params *p, const float *k, size_t nk, size_t seen) {
    const int Hk = p->kv_heads, d = p->head_dim;
    const size_t tiles = (nk + SP_TK - 1) / SP_TK, used = (seen + SP_TK - 1) / SP_TK;
    float *norms = malloc((size_t)Hk * tiles * sizeof(float) + 1);
    if (!norms) return NULL;
    for (size_t t = used; t < tiles; t++) /* past every query of the call: never read */
        for (int kh = 0; kh < Hk; kh++) norms[(size_t)kh * tiles + t] = INFINITY;
#pragma omp parallel for schedule(static)
    for (size_t t = 0; t < used; t++) {
        const size_t je = (t + 1) * SP_TK < nk ? (t + 1) * SP_TK : nk;
        for (int kh = 0; kh < Hk; kh++) norms[(size_t)kh * tiles + t] = 0.0f;
        for (size_t j = t * SP_TK; j < je; j++)
            for (int kh = 0; kh < Hk; kh++) {
                const float *kj = k + (j * (size_t)Hk + (size_t)kh) * (size_t)d;
                float part[16] = {0};
                int x = 0;
                for (; x + 16 <= d; x += 16)
                    for (int l = 0; l < 16; l++) part[l] += kj[x + l] * kj[x + l];
                for (; x < d; x++) part[0] += kj[x] * kj[x];
                float sq = 0.0f;
                for (int l = 0; l < 16; l++) sq += part[l];
                float *mx = &norms[(size_t)kh * tiles + t];
                *mx = sq > *mx || sq != sq ? sq : *mx; /* a NaN key: NaN bound, never skipped */
            }
        /* float rounding is far below the 1e-3 of enlargement; overflow gives inf: no skip */
        for (int kh = 0; kh < Hk; kh++) {
            float *mx = &norms[(size_t)kh * tiles + t];
            *mx = (float)(sqrt((double)*mx) * (1.0 + 1e-3) + 1e-6);
        }
    }
    return norms;
}

/* Where a tile reads its head's keys and values: the cache itself (rows of kv_heads heads), or
 * one key/value head packed into contiguous rows (kvh_packed; kp, vp NULL: not packed). */
typedef struct kv_src {
    const float *k, *v, *kp, *vp;
    int kvh_packed;
} kv_src;

static void run_tile(const sp_attn_params *p, const float *q, const kv_src *src,
                     const float *qscale, size_t q0, size_t r0, int nr, int h, size_t nk,
                     const float *norms, float *out, sp_tile_ws *ws, uint64_t *st, int stats) {
    const int H = p->heads, Hk = p->kv_heads, d = p->head_dim;
    const int dv = p->value_dim > 0 ? p->value_dim : d;
    const int kvh = h / (H / Hk);
    const int packed = src->kp && src->kvh_packed == kvh;
    sp_qtile t = {.p = p, .kern = sp_attn_tile_kernels_get(), .h = h, .d = d, .dv = dv,
                  .nr = nr, .kb = packed ? src->kp : src->k + (size_t)kvh * d,
                  .vb = packed ? src->vp : src->v + (size_t)kvh * dv,
                  .ks = packed ? (size_t)d : (size_t)Hk * d,
                  .vs = packed ? (size_t)dv : (size_t)Hk * dv,
                  .slope = p->alibi_slopes ? p->alibi_slopes[h] : 0.0f, .cap = p->softcap,
                  .stats = stats,
                  .ktile_norm = norms ? norms + (size_t)kvh * ((nk + SP_TK - 1) / SP_TK) : NULL};
    sp__qtile_init(&t, q, qscale, q0, r0, nk, ws, st);
    p->norm->tile(&t, ws, out + r0 * (size_t)H * dv + (size_t)h * dv, (size_t)H * dv, st);
}

/* Keys [0, seen) of key/value head kvh copied into contiguous rows (shared by the team): the
 * tiles then stream one block of memory instead of a slice of every cache row (a 2 KiB stride
 * for the bench Llama), which the prefetchers follow and the TLB holds. Same values, same
 * bits. */
static void pack_kv_head(const sp_attn_params *p, const float *k, const float *v, int kvh,
                         size_t seen, float *kp, float *vp) {
    const int Hk = p->kv_heads, d = p->head_dim;
    const int dv = p->value_dim > 0 ? p->value_dim : d;
#pragma omp for schedule(static)
    for (size_t j = 0; j < seen; j++) {
        memcpy(kp + j * d, k + (j * Hk + (size_t)kvh) * d, (size_t)d * sizeof(float));
        memcpy(vp + j * dv, v + (j * Hk + (size_t)kvh) * dv, (size_t)dv * sizeof(float));
    }
}

static void add_stats(sp_attn_stats *stats, const uint64_t *st, int H) {
    for (int h = 0; h < H; h++) {
        const uint64_t *s = st + (size_t)SP_ST_N * h;
#pragma omp atomic
        stats[h].rows += s[SP_ST_ROWS];
#pragma omp atomic
        stats[h].support += s[SP_ST_SUPPORT];
#pragma omp atomic
        stats[h].visible += s[SP_ST_VISIBLE];
#pragma omp atomic
        stats[h].tiles += s[SP_ST_TILES];
#pragma omp atomic
        stats[h].tiles_skipped += s[SP_ST_TILES_SKIPPED];
    }
}

void sp__attention_tiled(const sp_attn_params *p, const float *q, const float *k,
                         const float *v, const float *qscale, size_t q0, size_t nq, size_t nk,
                         float *out, sp_attn_stats *stats) {
    const int H = p->heads, Hk = p->kv_heads, d = p->head_dim;
    const int dv = p->value_dim > 0 ? p->value_dim : d;
    const size_t tiles = (nq + SP_LN - 1) / SP_LN, total = tiles * (size_t)H;
    /* Small calls (decode below a few thousand keys) are not worth waking the thread team
     * for: a sleeping thread takes about as long to wake as one thread needs for 2^20
     * multiply-adds of scores. */
    const int parallel = total > 1 && (double)nq * (double)nk * H * d >= 1 << 20;
    /* Key tile bounds for skipping score tiles (sparse normalisers, prefill: in decode they
     * would cost as much as the scores they save). */
    const size_t seen = p->causal && q0 + nq < nk ? q0 + nq : nk; /* keys any query sees */
    float *norms = p->norm->sparse && nq >= SP_LN ? key_tile_norms(p, k, nk, seen) : NULL;
    /* Prefill with several key/value heads: one key/value head at a time, packed (a phase);
     * without the memory for it, every head at once from the cache (one phase). */
    float *kp = NULL, *vp = NULL;
    if (nq >= SP_LN && Hk > 1 && seen > 0) {
        kp = malloc(seen * (size_t)d * sizeof(float));
        vp = malloc(seen * (size_t)dv * sizeof(float));
        if (!kp || !vp) {
            free(kp);
            free(vp);
            kp = vp = NULL;
        }
    }
    const int phases = kp ? Hk : 1, phase_heads = kp ? H / Hk : H;
    const size_t phase_items = tiles * (size_t)phase_heads;
#pragma omp parallel if (parallel)
    {
        sp_tile_ws ws;
        uint64_t *st = calloc((size_t)H * SP_ST_N, sizeof(uint64_t));
        /* Allocation failure of the scratch is not recoverable here; keep it crash-free by
         * computing nothing in this thread (the caller sized memory at session creation). */
        const int ok = ws_alloc(&ws, p, nk) == 0 && st;
        for (int ph = 0; ph < phases; ph++) {
            const kv_src src = {.k = k, .v = v, .kp = kp, .vp = vp, .kvh_packed = ph};
            if (kp) pack_kv_head(p, k, v, ph, seen, kp, vp);
            /* the longest query tiles (the causal triangle's last rows) first, so the threads
             * finish together; heads innermost: neighbouring items share the same query rows */
#pragma omp for schedule(dynamic, 1)
            for (size_t item = 0; item < phase_items; item++) {
                if (!ok) continue;
                const int h = ph * phase_heads + (int)(item % (size_t)phase_heads);
                const size_t r0 = (tiles - 1 - item / (size_t)phase_heads) * SP_LN;
                const int nr = (int)(nq - r0 < SP_LN ? nq - r0 : SP_LN);
                run_tile(p, q, &src, qscale, q0, r0, nr, h, nk, norms, out, &ws,
                         st + (size_t)SP_ST_N * h, stats != NULL);
            }
        }
        if (stats && ok) add_stats(stats, st, H);
        ws_free(&ws);
        free(st);
    }
    free(kp);
    free(vp);
    free(norms);
}
