/* tiled.h — the tiled attention path (not a public header): one query tile of up to
 * SP_ATTN_LANES consecutive rows of one head, run against the key range in key tiles of
 * SP_ATTN_TK keys that start at multiples of SP_ATTN_TK (docs/ATTENTION_MATH.md#tiled-attention).
 *
 * Score tiles are laid out [key][lane]: row j holds key j's scores for every query of the tile.
 * A lane's numbers depend only on its own query and the keys (never on the other lanes, the
 * tile's size or the thread), so a row computed alone (decode) has the bits it has in a full
 * tile (prefill), for any thread count.
 */
#ifndef SPARSA_TILED_H
#define SPARSA_TILED_H

#include <stddef.h>
#include <stdint.h>

#include "attention_internal.h"
#include "attn_tile.h"

#define SP_LN SP_ATTN_LANES
#define SP_TK SP_ATTN_TK

/* One query tile of one head. */
typedef struct sp_qtile {
    const sp_attn_params *p;
    const sp_attn_tile_kernels *kern;
    int h, d, dv, nr;          /* head, key and value dims, live lanes (rows) */
    size_t pos0;               /* absolute position of lane 0 */
    const float *kb, *vb;      /* this head's key/value head (GQA): in the cache, or, in a
                                * prefill, packed into contiguous rows (attention_tiled.c) */
    size_t ks, vs;             /* their row strides */
    size_t lo[SP_LN], hi[SP_LN]; /* visible keys [lo, hi) of each live lane */
    size_t lo_min, lo_max, hi_min, hi_max; /* over the live lanes with keys */
    float slope, cap;          /* ALiBi slope of the head, soft cap (0: none) */
    int stats;                 /* count support and tiles (perplexity --stats) */
    /* Sparse normalisers: an upper bound of |k_j| over each key tile of this key/value head
     * (NULL: none), and of |q'| per lane — the bound that lets whole score tiles be skipped. */
    const float *ktile_norm;
    float qnorm[SP_LN];
} sp_qtile;

/* Per-thread scratch of the tiled path. */
typedef struct sp_tile_ws {
    float *qT;                 /* [d][SP_LN] scaled queries, transposed */
    float *sT;                 /* [SP_TK][SP_LN] scores, then weights */
    float *oT;                 /* [dv][SP_LN] output accumulators, transposed */
    float *orow;               /* [dv] one row's output */
    float *qrow;               /* [d] the query of a one-row tile (decode), contiguous */
    float *srow;               /* [SP_TK] its scores, then weights */
    size_t cap;                /* keys a lane's candidate list can hold (the call's nk) */
    float *cand_s;             /* [SP_LN][cap] candidate scores (sparse normalisers) */
    uint32_t *cand_j;          /* [SP_LN][cap] their keys */
    sp_row_ws row;             /* the row kernel's scratch, cap entries each */
    float *tile_s;             /* [SP_LN][SP_TK] one key tile's candidates per lane */
    uint32_t *tile_j;
} sp_tile_ws;

/* Statistics slots per head in the per-thread counters (sp_attn_stats order). */
enum { SP_ST_ROWS, SP_ST_SUPPORT, SP_ST_VISIBLE, SP_ST_TILES, SP_ST_TILES_SKIPPED, SP_ST_N };

/* score_tile.c: fills t's ranges and ws->qT for rows r0 … r0+nr−1 of the call (q0: absolute
 * position of the call's row 0; qscale as in sp_attention_forward); counts rows and visible
 * keys into st. */
void sp__qtile_init(sp_qtile *t, const float *q, const float *qscale, size_t q0, size_t r0,
                    size_t nk, sp_tile_ws *ws, uint64_t *st);
/* Scores of keys [j0, j0 + n) for every lane into ws->sT (docs/ATTENTION_MATH.md#scores: soft
 * cap and ALiBi included); keys a live lane does not see are set to −inf. _row: the same for a
 * one-row tile, into ws->srow, with the same bits as lane 0 of ws->sT. */
void sp__qtile_scores(const sp_qtile *t, sp_tile_ws *ws, size_t j0, int n);
void sp__qtile_scores_row(const sp_qtile *t, sp_tile_ws *ws, size_t j0, int n);

/* attention_tiled.c: sp_attention_forward for a normaliser with a tile function. */
void sp__attention_tiled(const sp_attn_params *p, const float *q, const float *k,
                         const float *v, const float *qscale, size_t q0, size_t nq, size_t nk,
                         float *out, sp_attn_stats *stats);

/* The normalisers' tile functions (rows of normalizers.h): run the tile over its keys and write
 * each live row's output to out + lane · ostride. flash_softmax.c: online softmax;
 * sparse_tiled.c: α-entmax family (exact threshold on the candidates, then the support). */
void sp__flash_softmax_tile(const sp_qtile *t, sp_tile_ws *ws, float *out, size_t ostride,
                            uint64_t *st);
void sp__sparse_tile(const sp_qtile *t, sp_tile_ws *ws, float *out, size_t ostride,
                     uint64_t *st);

#endif
