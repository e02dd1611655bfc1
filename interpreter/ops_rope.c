/* ops_rope.c — `rope`: rotary position embedding at absolute positions pos0 + i
 * (docs/ATTENTION_MATH.md#rope).
 *
 * For each head of d dims, the first r = rotary_dim dims are rotated in pairs by angle
 * pos·inv_freq_k, inv_freq_k = 1/θ^(2k/r), k < r/2; the pairs are those of the style (the
 * table below). Frequencies, angles and cos/sin are computed in fp32 as the reference does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

typedef struct {
    size_t head_dim, rot;
    int interleaved;
    float *inv_freq;   /* [rot/2] */
} rope_priv;

/* The `style` values: which dimensions form rotated pair k (docs/ATTENTION_MATH.md#rope). */
static const struct {
    const char *name;
    int interleaved;   /* 0: (k, k + r/2), HF Llama / Gemma rotate_half;
                        * 1: (2k, 2k + 1), Meta / torchtitan complex form */
} rope_styles[] = {
    {.name = "neox", .interleaved = 0},
    {.name = "interleaved", .interleaved = 1},
};

static int parse_style(sp_compile_ctx *cc, rope_priv *p, sp_error *err) {
    const char *style = NULL;
    int rc = sp_attr_string(cc, "style", 1, &style, err);
    if (rc < 0) return -rc;
    for (size_t i = 0; i < sizeof rope_styles / sizeof rope_styles[0]; i++)
        if (!strcmp(style, rope_styles[i].name)) {
            p->interleaved = rope_styles[i].interleaved;
            return SP_OK;
        }
    return sp_compile_fail(cc, err, "style must be neox or interleaved (got '%s')", style);
}

static void rope_free(void *v) {
    rope_priv *p = v;
    if (p) free(p->inv_freq);
    free(p);
}

static int rope_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    rope_priv *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    op->priv = p;
    long long d = 0, r = 0;
    double theta = 0;
    int rc;
    if ((rc = sp_attr_int(cc, "head_dim", 1, 2, 1 << 20, &d, err)) < 0) return -rc;
    r = d;
    if ((rc = sp_attr_int(cc, "rotary_dim", 0, 0, 1 << 20, &r, err)) < 0) return -rc;
    if ((rc = sp_attr_float(cc, "theta", 1, &theta, err)) < 0) return -rc;
    if ((rc = parse_style(cc, p, err))) return rc;
    if (r % 2 || r > d || r <= 0)
        return sp_compile_fail(cc, err, "rotary_dim %lld must be even, > 0 and <= head_dim %lld", r, d);
    if (!(theta > 0)) return sp_compile_fail(cc, err, "theta must be > 0");
    if (cc->in_width[0] % (size_t)d)
        return sp_compile_fail(cc, err, "input width %zu is not a multiple of head_dim %lld",
                               cc->in_width[0], d);
    p->head_dim = (size_t)d;
    p->rot = (size_t)r;
    p->inv_freq = malloc((size_t)r / 2 * sizeof *p->inv_freq);
    if (!p->inv_freq) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t k = 0; k < p->rot / 2; k++)
        p->inv_freq[k] = 1.0f / powf((float)theta, (float)(2 * k) / (float)p->rot);
    op->out_width = cc->in_width[0];
    return SP_OK;
}

static void rope_run(const sp_op *op, sp_exec *ex) {
    const rope_priv *p = op->priv;
    size_t w = op->out_width, heads = w / p->head_dim, half = p->rot / 2;
    #pragma omp parallel for schedule(static) if (SP_WORTH_PARALLEL(ex->n * w))
    for (size_t i = 0; i < ex->n; i++) {
        float cs[2048], sn[2048];  /* half <= 2^19 in theory; computed in slices below */
        const float *x = ex->in[0] + i * w;
        float *y = ex->out + i * w;
        memcpy(y, x, w * sizeof *y);
        float pos = (float)(ex->pos0 + i);
        for (size_t k0 = 0; k0 < half; k0 += 2048) {
            size_t kn = half - k0 < 2048 ? half - k0 : 2048;
            for (size_t k = 0; k < kn; k++) {
                float ang = pos * p->inv_freq[k0 + k];
                cs[k] = cosf(ang);
                sn[k] = sinf(ang);
            }
            for (size_t h = 0; h < heads; h++) {
                const float *xh = x + h * p->head_dim;
                float *yh = y + h * p->head_dim;
                for (size_t k = 0; k < kn; k++) {
                    size_t a = p->interleaved ? 2 * (k0 + k) : k0 + k;
                    size_t b = p->interleaved ? a + 1 : a + half;
                    float xa = xh[a], xb = xh[b];
                    yh[a] = xa * cs[k] - xb * sn[k];
                    yh[b] = xb * cs[k] + xa * sn[k];
                }
            }
        }
    }
}

static void rope_lower(const sp_op *op, sp_bk_op *b) {
    const rope_priv *p = op->priv;
    b->u.rope.head_dim = p->head_dim;
    b->u.rope.rot = p->rot;
    b->u.rope.interleaved = p->interleaved;
    b->u.rope.inv_freq = p->inv_freq;
}

const sp_op_kind sp_op_rope = {
    .name = "rope",
    .min_in = 1,
    .max_in = 1,
    .tokens_input = 0,
    .row_wise = 1,
    .compile = rope_compile,
    .run = rope_run,
    .lower = rope_lower,
    .bk_kind = SP_BK_ROPE,
    .free_priv = rope_free,
};
