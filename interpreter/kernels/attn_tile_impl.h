/* attn_tile_impl.h — the body of the vector back ends of attn_tile.h, written once over a few
 * macros and included by attn_tile_avx512.c and attn_tile_avx2.c (not a public header).
 *
 * The including file defines: V (vector type), W (its lanes), ATTR (target attribute), LOADV,
 * STOREV, SET1, ZEROV, FMAV(a, b, c) = a·b + c fused, MULV, MASKV (a lane mask type),
 * NONZERO(p) = the lanes where p ≠ 0 (NaN included), MASK_FMAV(a, b, c, k) = a·b + c fused in
 * the lanes of k and c elsewhere, ALL_LANES(k) = 1 when k holds every lane, and MR_QK / MR_PV,
 * the number of key rows (scores) or value columns (outputs) held in registers at once, each
 * against the SP_ATTN_LANES / W vectors of a lane row. Register blocking changes no number:
 * every element is still its own chain in the order attn_tile.h fixes. */
#include <math.h>

#define NV (SP_ATTN_LANES / W)
#define LN SP_ATTN_LANES

ATTR static void qk_tile(const float *qT, const float *k, size_t kstride, int d, int nkeys,
                         float *sT) {
    for (int j0 = 0; j0 < nkeys; j0 += MR_QK) {
        const float *kr[MR_QK];
        /* rows past the tile's end read its last key again; their results are dropped */
        for (int r = 0; r < MR_QK; r++)
            kr[r] = k + (size_t)(j0 + r < nkeys ? j0 + r : nkeys - 1) * kstride;
        V acc[MR_QK][NV];
#pragma GCC unroll 16
        for (int r = 0; r < MR_QK; r++)
#pragma GCC unroll 4
            for (int u = 0; u < NV; u++) acc[r][u] = ZEROV();
        for (int p = 0; p < d; p++) {
            V q[NV];
#pragma GCC unroll 4
            for (int u = 0; u < NV; u++) q[u] = LOADV(qT + p * LN + u * W);
#pragma GCC unroll 16
            for (int r = 0; r < MR_QK; r++) {
                const V kb = SET1(kr[r][p]);
#pragma GCC unroll 4
                for (int u = 0; u < NV; u++) acc[r][u] = FMAV(kb, q[u], acc[r][u]);
            }
        }
#pragma GCC unroll 16
        for (int r = 0; r < MR_QK; r++)
            if (j0 + r < nkeys)
#pragma GCC unroll 4
                for (int u = 0; u < NV; u++) STOREV(sT + (j0 + r) * LN + u * W, acc[r][u]);
    }
}

/* One query against keys [from, nkeys), one fused chain per key (fmaf is fused). */
ATTR static void qk_row_tail(const float *q, const float *k, size_t kstride, int d, int from,
                             int nkeys, float *s) {
    for (int j = from; j < nkeys; j++) {
        float acc = 0.0f;
        for (int p = 0; p < d; p++) acc = fmaf(k[(size_t)j * kstride + p], q[p], acc);
        s[j] = acc;
    }
}

/* Output columns [c0, c0 + MR_PV) of the tile; live[j] holds the lanes where key j's weight
 * is not 0: the others add nothing, even for a NaN or Inf value. */
ATTR static inline __attribute__((always_inline)) void pv_block(const float *pT, const float *v,
        size_t vstride, int c0, int nkeys, const float *alpha, const MASKV (*live)[NV],
        const int masked, float *oT) {
    V acc[MR_PV][NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR_PV; r++)
#pragma GCC unroll 4
        for (int u = 0; u < NV; u++) acc[r][u] = LOADV(oT + (size_t)(c0 + r) * LN + u * W);
    if (alpha)
#pragma GCC unroll 16
        for (int r = 0; r < MR_PV; r++)
#pragma GCC unroll 4
            for (int u = 0; u < NV; u++) acc[r][u] = MULV(acc[r][u], LOADV(alpha + u * W));
    for (int j = 0; j < nkeys; j++) {
        V pj[NV];
#pragma GCC unroll 4
        for (int u = 0; u < NV; u++) pj[u] = LOADV(pT + j * LN + u * W);
        const float *vj = v + (size_t)j * vstride + c0;
#pragma GCC unroll 16
        for (int r = 0; r < MR_PV; r++) {
            const V vb = SET1(vj[r]);
#pragma GCC unroll 4
            for (int u = 0; u < NV; u++)
                acc[r][u] = masked ? MASK_FMAV(vb, pj[u], acc[r][u], live[j][u])
                                   : FMAV(vb, pj[u], acc[r][u]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR_PV; r++)
#pragma GCC unroll 4
        for (int u = 0; u < NV; u++) STOREV(oT + (size_t)(c0 + r) * LN + u * W, acc[r][u]);
}

ATTR static void pv_tile(const float *pT, const float *v, size_t vstride, int dv, int nkeys,
                         const float *alpha, float *oT) {
    MASKV live[SP_ATTN_TK][NV]; /* once per tile, not once per block of columns */
    int all_live = 1;
    for (int j = 0; j < nkeys; j++)
#pragma GCC unroll 4
        for (int u = 0; u < NV; u++) {
            live[j][u] = NONZERO(LOADV(pT + j * LN + u * W));
            all_live &= ALL_LANES(live[j][u]);
        }
    /* no weight is 0 (a tile every lane sees whole): the plain product gives the same bits */
    int c0 = 0;
    if (all_live)
        for (; c0 + MR_PV <= dv; c0 += MR_PV)
            pv_block(pT, v, vstride, c0, nkeys, alpha, live, 0, oT);
    else
        for (; c0 + MR_PV <= dv; c0 += MR_PV)
            pv_block(pT, v, vstride, c0, nkeys, alpha, live, 1, oT);
    for (; c0 < dv; c0++) { /* columns past the last block, one at a time (fmaf is fused) */
        float *o = oT + (size_t)c0 * LN;
        if (alpha)
            for (int l = 0; l < LN; l++) o[l] = o[l] * alpha[l];
        for (int j = 0; j < nkeys; j++)
            for (int l = 0; l < LN; l++)
                if (pT[j * LN + l] != 0.0f)
                    o[l] = fmaf(v[(size_t)j * vstride + c0], pT[j * LN + l], o[l]);
    }
}

/* Blocks of PV_ROW_VECS vectors of columns, so that many independent chains run at once (one
 * chain per column, over the keys in order). */
#define PV_ROW_VECS 4
ATTR static void pv_row_impl(const float *p, const float *v, size_t vstride, int dv, int nkeys,
                             const float *alpha, float *o) {
    int c = 0;
    for (; c + PV_ROW_VECS * W <= dv; c += PV_ROW_VECS * W) {
        V acc[PV_ROW_VECS];
#pragma GCC unroll 8
        for (int u = 0; u < PV_ROW_VECS; u++) {
            acc[u] = LOADV(o + c + u * W);
            if (alpha) acc[u] = MULV(acc[u], SET1(alpha[0]));
        }
        for (int j = 0; j < nkeys; j++) {
            if (p[j] == 0.0f) continue; /* as a lane of pv_tile: weight 0 adds nothing */
            const V pj = SET1(p[j]);
            const float *vj = v + (size_t)j * vstride + c;
#pragma GCC unroll 8
            for (int u = 0; u < PV_ROW_VECS; u++) acc[u] = FMAV(LOADV(vj + u * W), pj, acc[u]);
        }
#pragma GCC unroll 8
        for (int u = 0; u < PV_ROW_VECS; u++) STOREV(o + c + u * W, acc[u]);
    }
    for (; c + W <= dv; c += W) {
        V acc = LOADV(o + c);
        if (alpha) acc = MULV(acc, SET1(alpha[0]));
        for (int j = 0; j < nkeys; j++)
            if (p[j] != 0.0f) acc = FMAV(LOADV(v + (size_t)j * vstride + c), SET1(p[j]), acc);
        STOREV(o + c, acc);
    }
    for (; c < dv; c++) {
        float acc = o[c];
        if (alpha) acc = acc * alpha[0];
        for (int j = 0; j < nkeys; j++)
            if (p[j] != 0.0f) acc = fmaf(v[(size_t)j * vstride + c], p[j], acc);
        o[c] = acc;
    }
}
#undef PV_ROW_VECS

#undef NV
#undef LN
