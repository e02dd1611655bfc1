/* flash_softmax.c — softmax attention over query × key tiles with an online softmax
 * (docs/ATTENTION_MATH.md#tiled-attention): per lane a running maximum m and sum ℓ; each key
 * tile's weights are e^(s − m_new), the accumulator and ℓ are first rescaled by e^(m_old − m_new),
 * and the output is O / ℓ at the end. No row of scores is ever held whole: memory is O(tile).
 *
 * Causal tiles past the tile's last query are never visited; keys a lane does not see have
 * weight exactly 0 and the PV kernels skip weight-0 terms, so a NaN or Inf in a later token's
 * value row never reaches an earlier query (attn_tile.h). ℓ is summed per tile in float, in
 * key order, then added in double. Every step is per lane, so a lane's bits do not depend on
 * the other lanes (tiled.h). */
#include <math.h>
#include <string.h>

#include "exp16.h"
#include "normalizers.h"
#include "tiled.h"

typedef sp_v16f v16f;
typedef sp_v16i v16i;
#define NV (SP_LN / 16)

/* Lanes' tile maxima, then m_new, α = e^(m_old − m_new) and, in place, p = e^(s − m_new);
 * ℓ ← ℓ·α + Σ_j p_j. Returns 1 if some live lane has α ≠ 1 (the accumulator must be
 * rescaled; α = 1 would leave it unchanged anyway). */
static int online_step(float *sT, int n, int nr, float *m, double *ell, float *alpha) {
    v16f mx[NV], mnew[NV], msafe[NV];
    memcpy(mx, m, sizeof mx);
    for (int j = 0; j < n; j++)
        for (int u = 0; u < NV; u++) {
            v16f s;
            memcpy(&s, sT + j * SP_LN + 16 * u, sizeof s);
            const v16i gt = s > mx[u];
            mx[u] = (v16f)(((v16i)s & gt) | ((v16i)mx[u] & ~gt));
        }
    for (int u = 0; u < NV; u++) {
        mnew[u] = mx[u];
        /* a lane that has seen no key yet (−inf) takes 0, so no −inf − −inf arises */
        const v16i none = mnew[u] == -INFINITY;
        msafe[u] = (v16f)((v16i)mnew[u] & ~none);
        v16f a;
        memcpy(&a, m + 16 * u, sizeof a);
        a -= msafe[u];
        sp_exp16_nonpositive(&a);
        memcpy(alpha + 16 * u, &a, sizeof a);
        memcpy(m + 16 * u, &mnew[u], sizeof a);
    }
    v16f sum[NV];
    for (int u = 0; u < NV; u++) sum[u] = (v16f){0};
    for (int j = 0; j < n; j++)
        for (int u = 0; u < NV; u++) {
            v16f s;
            memcpy(&s, sT + j * SP_LN + 16 * u, sizeof s);
            s -= msafe[u];
            sp_exp16_nonpositive(&s);
            sum[u] += s;
            memcpy(sT + j * SP_LN + 16 * u, &s, sizeof s);
        }
    int rescale = 0;
    for (int l = 0; l < SP_LN; l++) {
        ell[l] = ell[l] * (double)alpha[l] + (double)sum[l / 16][l % 16];
        rescale |= l < nr && alpha[l] != 1.0f;
    }
    return rescale;
}

/* online_step for a one-row tile (decode) on ws->srow: the same operations as on lane 0 of a
 * full tile — the exponential is elementwise, so putting keys in its lanes changes no bit, and
 * the tile's sum runs in key order as each lane's does. */
static int online_row(float *s, int n, float *m, double *ell, float *alpha) {
    float mx = *m;
    for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    const float msafe = mx == -INFINITY ? 0.0f : mx;
    v16f a = {0};
    a[0] = *m - msafe;
    sp_exp16_nonpositive(&a);
    *alpha = a[0];
    *m = mx;
    float sum = 0.0f;
    for (int j = 0; j < n; j += 16) {
        const int c = n - j < 16 ? n - j : 16;
        v16f e = {0};
        memcpy(&e, s + j, (size_t)c * sizeof(float));
        e -= msafe;
        sp_exp16_nonpositive(&e);
        memcpy(s + j, &e, (size_t)c * sizeof(float));
        for (int i = 0; i < c; i++) sum += e[i];
    }
    *ell = *ell * (double)*alpha + (double)sum;
    return *alpha != 1.0f;
}

/* Nonzero weights of the live lanes (the support of the statistics). */
static uint64_t count_nonzero(const float *sT, int n, int nr) {
    v16i cnt[NV];
    memset(cnt, 0, sizeof cnt);
    for (int j = 0; j < n; j++)
        for (int u = 0; u < NV; u++) {
            v16f s;
            memcpy(&s, sT + j * SP_LN + 16 * u, sizeof s);
            cnt[u] -= s != 0.0f; /* a true comparison is −1 */
        }
    uint64_t c = 0;
    for (int l = 0; l < nr; l++) c += (uint64_t)cnt[l / 16][l % 16];
    return c;
}

void sp__flash_softmax_tile(const sp_qtile *t, sp_tile_ws *ws, float *out, size_t ostride,
                            uint64_t *st) {
    const int dv = t->dv, nr = t->nr;
    float m[SP_LN], alpha[SP_LN];
    double ell[SP_LN];
    for (int l = 0; l < SP_LN; l++) {
        m[l] = -INFINITY;
        ell[l] = 0.0;
    }
    /* one live row (decode): its accumulator as a plain row, updated along the value dims */
    const int one = nr == 1;
    if (one) memset(ws->orow, 0, (size_t)dv * sizeof(float));
    else memset(ws->oT, 0, (size_t)dv * SP_LN * sizeof(float));
    for (size_t j0 = t->lo_min / SP_TK * SP_TK; j0 < t->hi_max; j0 += SP_TK) {
        const int n = t->hi_max - j0 < SP_TK ? (int)(t->hi_max - j0) : SP_TK;
        const float *vj = t->vb + j0 * t->vs;
        if (one) {
            sp__qtile_scores_row(t, ws, j0, n);
            const int rescale = online_row(ws->srow, n, m, ell, alpha);
            t->kern->pv_row(ws->srow, vj, t->vs, dv, n, rescale ? alpha : NULL, ws->orow);
            if (t->stats)
                for (int j = 0; j < n; j++) st[SP_ST_SUPPORT] += ws->srow[j] != 0.0f;
            continue;
        }
        sp__qtile_scores(t, ws, j0, n);
        const int rescale = online_step(ws->sT, n, nr, m, ell, alpha);
        t->kern->pv(ws->sT, vj, t->vs, dv, n, rescale ? alpha : NULL, ws->oT);
        if (t->stats) st[SP_ST_SUPPORT] += count_nonzero(ws->sT, n, nr);
    }
    /* ℓ = 0: no visible key, output 0; a NaN ℓ stays NaN */
    float inv[SP_LN];
    for (int l = 0; l < SP_LN; l++) inv[l] = ell[l] == 0.0 ? 0.0f : (float)(1.0 / ell[l]);
    if (one) {
        for (int c = 0; c < dv; c++) out[c] = ws->orow[c] * inv[0];
        return;
    }
    /* value dims outermost: the accumulator is read along its rows, the lanes' outputs are
     * written one element each per row */
    for (int c = 0; c < dv; c++) {
        const float *oc = ws->oT + (size_t)c * SP_LN;
        for (int l = 0; l < nr; l++) out[(size_t)l * ostride + c] = oc[l] * inv[l];
    }
}
