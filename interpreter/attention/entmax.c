/* entmax.c — α-entmax on one row: exact-zero skipping, then the exact or converged threshold
 * (docs/ATTENTION_MATH.md#alpha-entmax, #exact-zeros); the `entmax` and `sparsemax` rows of
 * the normaliser table.
 *
 * With m = max z, τ ≥ (α−1)m − 1, so every key with (α−1)(z_j − m) ≤ −1 (a gap of 1/(α−1)
 * below the maximum: 2 for α = 1.5, 1 for sparsemax) is exactly zero. Those keys are dropped
 * in one pass and never raised to a power or multiplied into V; the threshold is solved on the
 * remaining candidates only, and the weights are written for the support only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normalizers.h"
#include "tiled.h"

size_t sp__entmax_row(const float *s, size_t n, float alpha, uint32_t *idx, float *w, float *t,
                      float *tau) {
    float m = s[0];
#pragma omp simd reduction(max : m)
    for (size_t j = 1; j < n; j++) m = s[j] > m ? s[j] : m;
    const float am1 = alpha - 1.0f;

    size_t c = 0;
    for (size_t j = 0; j < n; j++) {
        float x = am1 * (s[j] - m);
        if (x > -1.0f) {
            idx[c] = (uint32_t)j;
            t[c++] = x;
        }
    }

    if (c == 0) {
        /* Only a row without a finite maximum gets here (NaN or infinite scores): answer NaN
         * rather than invent a distribution, and read nothing out of range. */
        idx[0] = 0;
        w[0] = NAN;
        if (tau) *tau = NAN;
        return 1;
    }
    const int sparsemax = alpha == 2.0f, e15 = alpha == 1.5f;
    double th;
    if (sparsemax || e15) th = sp__entmax_tau_exact(t, c, sparsemax, w);
    else th = sp__entmax_tau_solve(t, c, (double)alpha);
    if (tau) *tau = (float)(th + (double)am1 * m);

    /* Weights on the support, compacted in place (idx[e] >= e for every e written). */
    size_t k = 0;
    if (sparsemax || e15) {
        for (size_t e = 0; e < c; e++) {
            double d = (double)t[e] - th;
            if (d <= 0.0) continue;
            idx[k] = idx[e];
            w[k++] = (float)(sparsemax ? d : d * d);
        }
    } else {
        /* Converged τ, then renormalised so Σ p = 1 to rounding. */
        const double ex = 1.0 / (double)am1;
        double sum = 0.0;
        for (size_t e = 0; e < c; e++) {
            double d = (double)t[e] - th;
            if (d <= 0.0) continue;
            double pe = pow(d, ex);
            idx[k] = idx[e];
            t[k] = (float)pe;
            sum += pe;
            k++;
        }
        double inv = sum > 0.0 ? 1.0 / sum : 0.0;
        for (size_t e = 0; e < k; e++) w[e] = (float)(t[e] * inv);
    }
    if (k == 0) { /* only reachable through rounding on degenerate rows: the max takes all */
        idx[0] = 0;
        for (size_t j = 0; j < n; j++)
            if (s[j] == m) {
                idx[0] = (uint32_t)j;
                break;
            }
        w[0] = 1.0f;
        k = 1;
    }
    return k;
}

/* Dense public form: scatter the support into p (for tests and benchmarks). */
size_t sp_entmax(const float *z, size_t n, float alpha, float *p, float *tau) {
    if (n == 0) return 0;
    if (!(alpha > 1.0f)) { /* α = 1 is softmax; entmax is undefined below */
        sp_softmax(z, n, p);
        if (tau) *tau = NAN;
        return n;
    }
    float *w = malloc(n * sizeof(float)), *t = malloc(n * sizeof(float));
    uint32_t *idx = malloc(n * sizeof(uint32_t));
    size_t k = 0;
    memset(p, 0, n * sizeof(float));
    if (w && t && idx) {
        k = sp__entmax_row(z, n, alpha, idx, w, t, tau);
        for (size_t e = 0; e < k; e++) p[idx[e]] = w[e];
    } else if (tau) {
        *tau = NAN;
    }
    free(w);
    free(t);
    free(idx);
    return k;
}

size_t sp_sparsemax(const float *z, size_t n, float *p, float *tau) {
    return sp_entmax(z, n, 2.0f, p, tau);
}

size_t sp_entmax15(const float *z, size_t n, float *p, float *tau) {
    return sp_entmax(z, n, 1.5f, p, tau);
}

/* ---- the table rows: entmax (α from the graph) and sparsemax (α = 2) ---------------------- */

static size_t entmax_row(const sp_attn_params *p, size_t n, sp_row_ws *ws) {
    return sp__entmax_row(ws->s, n, p->alpha, ws->idx, ws->w, ws->t, NULL);
}

static const char *const entmax_attrs[] = {"alpha", NULL};

static int entmax_parse(const sp_norm_attrs *a, sp_attn_params *ap, sp_error *err) {
    double alpha = 0;
    int r = a->read_float(a->cc, "alpha", 0, &alpha, err);
    if (r < 0) return -r;
    if (r == 0) return a->fail(a->cc, err, "missing attribute 'alpha' (entmax)");
    if (!(alpha > 1)) return a->fail(a->cc, err, "alpha must be > 1 (got %g)", alpha);
    ap->alpha = (float)alpha;
    return SP_OK;
}

static int sparsemax_parse(const sp_norm_attrs *a, sp_attn_params *ap, sp_error *err) {
    (void)a;
    (void)err;
    ap->alpha = 2.0f;
    return SP_OK;
}

const sp_norm_kind sp_norm_entmax = {
    .name = "entmax",
    .attrs = entmax_attrs,
    .parse = entmax_parse,
    .row = entmax_row,
    .tile = sp__sparse_tile,
    .sparse = 1,
    .math = "docs/ATTENTION_MATH.md#alpha-entmax",
};

const sp_norm_kind sp_norm_sparsemax = {
    .name = "sparsemax",
    .parse = sparsemax_parse,
    .row = entmax_row,
    .tile = sp__sparse_tile,
    .sparse = 1,
    .math = "docs/ATTENTION_MATH.md#sparsemax",
};
