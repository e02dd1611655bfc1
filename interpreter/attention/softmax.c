/* softmax.c — the dense normaliser: p_j = exp(s_j − max) / Σ exp(s_k − max).
 *
 * The exponentials are computed sixteen at a time (the row loop is most of the normaliser's
 * time) by exp16.h (about 1 ulp, like libm's expf). Arguments are ≤ 0 here (s − max).
 * The sum is taken in double over fixed lanes and summed in a fixed order at the end, so the
 * result depends only on the row, never on how or where it is computed. */
#include <string.h>

#include "exp16.h"
#include "normalizers.h"
#include "tiled.h"

typedef sp_v16f v16f;
typedef sp_v16i v16i;
typedef double v8d __attribute__((vector_size(64)));

/* The largest score (NaN scores are passed over here; they make their own weights NaN). */
static float row_max(const float *s, size_t n) {
    float m = s[0];
    size_t j = 1;
    if (n >= 17) {
        v16f mv;
        memcpy(&mv, s + 1, sizeof mv);
        for (j = 17; j + 16 <= n; j += 16) {
            v16f x;
            memcpy(&x, s + j, sizeof x);
            const v16i gt = x > mv;
            mv = (v16f)(((v16i)x & gt) | ((v16i)mv & ~gt));
        }
        for (int l = 0; l < 16; l++) m = mv[l] > m ? mv[l] : m;
    }
    for (; j < n; j++) m = s[j] > m ? s[j] : m;
    return m;
}

void sp__softmax_row(const float *s, size_t n, float *w) {
    float m = row_max(s, n);
    v8d acc = {0};
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        v16f e;
        memcpy(&e, s + j, sizeof e);
        e -= m;
        sp_exp16_nonpositive(&e);
        memcpy(w + j, &e, sizeof e);
        const v8d lo = {e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]};
        const v8d hi = {e[8], e[9], e[10], e[11], e[12], e[13], e[14], e[15]};
        acc += lo;
        acc += hi;
    }
    if (j < n) {
        v16f e = {0};
        memcpy(&e, s + j, (n - j) * sizeof(float));
        e -= m;
        sp_exp16_nonpositive(&e);
        memcpy(w + j, &e, (n - j) * sizeof(float));
        for (size_t t = 0; t < n - j; t++) acc[t % 8] += e[t];
    }
    const double sum = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    const float inv = (float)(1.0 / sum);
    for (j = 0; j < n; j++) w[j] *= inv;
}

void sp_softmax(const float *z, size_t n, float *p) {
    if (n == 0) return;
    sp__softmax_row(z, n, p);
}

static size_t softmax_row(const sp_attn_params *p, size_t n, sp_row_ws *ws) {
    (void)p;
    sp__softmax_row(ws->s, n, ws->w);
    return n;
}

const sp_norm_kind sp_norm_softmax = {
    .name = "softmax",
    .row = softmax_row,
    .tile = sp__flash_softmax_tile,
    .math = "docs/ATTENTION_MATH.md#softmax",
};
