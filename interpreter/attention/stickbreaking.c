/* stickbreaking.c — stick-breaking attention weights for one query
 * (docs/ATTENTION_MATH.md#stick-breaking).
 *
 * Keys j = 0..n−1 are the keys strictly before the query (the caller excludes the query's own
 * key). β_j = σ(s_j) and A_j = β_j Π_{j<k<n}(1 − β_k): the nearest key breaks the stick first.
 * In log space, log A_j = log σ(s_j) − Σ_{j<k<n} softplus(s_k), with log σ(x) = −softplus(−x),
 * so nothing overflows for large |s|. The remainder 1 − Σ A_j is discarded, as the reference
 * model does.
 */
#include <math.h>
#include "normalizers.h"

/* softplus(x) = log(1 + e^x), stable for any x. */
static double softplus(double x) {
    return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x)));
}

void sp__stickbreaking_row(const float *s, size_t n, float *w) {
    double acc = 0.0; /* Σ softplus(s_k) over the keys after j */
    for (size_t e = n; e-- > 0;) {
        const double x = s[e];
        w[e] = (float)exp(-softplus(-x) - acc);
        acc += softplus(x);
    }
}

static size_t stickbreaking_row(const sp_attn_params *p, size_t n, sp_row_ws *ws) {
    (void)p;
    sp__stickbreaking_row(ws->s, n, ws->w);
    return n;
}

const sp_norm_kind sp_norm_stickbreaking = {
    .name = "stickbreaking",
    .row = stickbreaking_row,
    .before_query = 1,
    .math = "docs/ATTENTION_MATH.md#stick-breaking",
};
