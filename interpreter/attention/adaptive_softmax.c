/* adaptive_softmax.c — the adaptive-temperature softmax baseline as the reference code writes
 * it (docs/ATTENTION_MATH.md#adaptive-temperature-softmax): p = softmax(s); H = −Σ p·log(p + 1e−9); β = max(1, poly(H)) if H > 0.5,
 * else 1; output softmax(β·s). poly uses ASCENDING powers, poly(H) = Σ_k c_k H^k, which differs
 * from the original paper's polyval order; the reference's order is what the models were
 * trained with, so it is replicated.
 */
#include <math.h>
#include "normalizers.h"

static const double POLY[5] = {-0.037, 0.481, -2.3, 4.917, -1.791};

/* β from the first softmax p[0..n). */
static float adaptive_beta(const float *p, size_t n) {
    double h = 0.0;
    for (size_t j = 0; j < n; j++) h -= (double)p[j] * log((double)p[j] + 1e-9);
    if (!(h > 0.5)) return 1.0f;
    double poly = 0.0, hp = 1.0;
    for (int k = 0; k < 5; k++) {
        poly += POLY[k] * hp;
        hp *= h;
    }
    return poly > 1.0 ? (float)poly : 1.0f;
}

void sp__adaptive_softmax_row(const float *s, size_t n, float *w) {
    sp__softmax_row(s, n, w);
    const float beta = adaptive_beta(w, n);
    if (beta == 1.0f) return;
    for (size_t j = 0; j < n; j++) w[j] = s[j] * beta;
    sp__softmax_row(w, n, w); /* in place: each element is read before it is written */
}

void sp_adaptive_softmax(const float *z, size_t n, float *p) {
    if (n == 0) return;
    sp__adaptive_softmax_row(z, n, p);
}

static size_t adaptive_softmax_row(const sp_attn_params *p, size_t n, sp_row_ws *ws) {
    (void)p;
    sp__adaptive_softmax_row(ws->s, n, ws->w);
    return n;
}

const sp_norm_kind sp_norm_adaptive_softmax = {
    .name = "adaptive_softmax",
    .row = adaptive_softmax_row,
    .math = "docs/ATTENTION_MATH.md#adaptive-temperature-softmax",
};
