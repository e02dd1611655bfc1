/* ops_layernorm.c — `layernorm`: y = (x − mean)/sqrt(var + eps) · w (+ b), biased variance,
 * statistics accumulated in double. */
#include <math.h>
#include <stdlib.h>

#include "interp_internal.h"

typedef struct {
    float *w, *b;
    float eps;
} layernorm_priv;

static void layernorm_free(void *v) {
    layernorm_priv *p = v;
    if (p) {
        free(p->w);
        free(p->b);
    }
    free(p);
}

static int layernorm_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    layernorm_priv *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    op->priv = p;
    size_t d = cc->in_width[0];
    int r = sp_attr_tensor_f32(cc, "weight", 1, 1, d, &p->w, err);
    if (r < 0) return -r;
    if ((r = sp_attr_tensor_f32(cc, "bias", 0, 1, d, &p->b, err)) < 0) return -r;
    double eps = 0;
    if ((r = sp_attr_float(cc, "eps", 1, &eps, err)) < 0) return -r;
    if (eps < 0) return sp_compile_fail(cc, err, "eps must be >= 0");
    p->eps = (float)eps;
    op->out_width = d;
    return SP_OK;
}

static void layernorm_run(const sp_op *op, sp_exec *ex) {
    const layernorm_priv *p = op->priv;
    size_t d = op->out_width;
    #pragma omp parallel for schedule(static) if (SP_WORTH_PARALLEL(ex->n * d))
    for (size_t i = 0; i < ex->n; i++) {
        const float *x = ex->in[0] + i * d;
        float *y = ex->out + i * d;
        double s = 0, ss = 0;
        for (size_t c = 0; c < d; c++) s += x[c];
        float mean = (float)(s / (double)d);
        for (size_t c = 0; c < d; c++) ss += (double)(x[c] - mean) * (x[c] - mean);
        float r = 1.0f / sqrtf((float)(ss / (double)d) + p->eps);
        for (size_t c = 0; c < d; c++) y[c] = (x[c] - mean) * r * p->w[c] + (p->b ? p->b[c] : 0.0f);
    }
}

static void layernorm_lower(const sp_op *op, sp_bk_op *b) {
    const layernorm_priv *p = op->priv;
    b->u.norm.weight = p->w;
    b->u.norm.bias = p->b;
    b->u.norm.eps = p->eps;
}

const sp_op_kind sp_op_layernorm = {
    .name = "layernorm",
    .min_in = 1,
    .max_in = 1,
    .tokens_input = 0,
    .row_wise = 1,
    .compile = layernorm_compile,
    .run = layernorm_run,
    .lower = layernorm_lower,
    .bk_kind = SP_BK_LAYERNORM,
    .free_priv = layernorm_free,
};
