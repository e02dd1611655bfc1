/* ops_rmsnorm.c — `rmsnorm`: y = x · rsqrt(mean(x²) + eps) · (offset + w). offset 0 is
 * Llama's RMSNorm, offset 1 Gemma's (1 + w). The mean is accumulated in double. */
#include <math.h>
#include <stdlib.h>

#include "interp_internal.h"

typedef struct {
    float *w;   /* offset + weight, f32 */
    float eps;
} rmsnorm_priv;

static void rmsnorm_free(void *v) {
    rmsnorm_priv *p = v;
    if (p) free(p->w);
    free(p);
}

static int rmsnorm_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    rmsnorm_priv *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    op->priv = p;
    size_t d = cc->in_width[0];
    int r = sp_attr_tensor_f32(cc, "weight", 1, 1, d, &p->w, err);
    if (r < 0) return -r;
    double eps = 0, off = 0;
    if ((r = sp_attr_float(cc, "eps", 1, &eps, err)) < 0) return -r;
    if ((r = sp_attr_float(cc, "offset", 0, &off, err)) < 0) return -r;
    if (eps < 0) return sp_compile_fail(cc, err, "eps must be >= 0");
    p->eps = (float)eps;
    for (size_t c = 0; c < d; c++) p->w[c] = (float)off + p->w[c];
    op->out_width = d;
    return SP_OK;
}

static void rmsnorm_run(const sp_op *op, sp_exec *ex) {
    const rmsnorm_priv *p = op->priv;
    size_t d = op->out_width;
    #pragma omp parallel for schedule(static) if (SP_WORTH_PARALLEL(ex->n * d))
    for (size_t i = 0; i < ex->n; i++) {
        const float *x = ex->in[0] + i * d;
        float *y = ex->out + i * d;
        double ss = 0;
        for (size_t c = 0; c < d; c++) ss += (double)x[c] * x[c];
        float r = 1.0f / sqrtf((float)(ss / (double)d) + p->eps);
        for (size_t c = 0; c < d; c++) y[c] = (x[c] * r) * p->w[c];
    }
}

static void rmsnorm_lower(const sp_op *op, sp_bk_op *b) {
    const rmsnorm_priv *p = op->priv;
    b->u.norm.weight = p->w;
    b->u.norm.eps = p->eps;
}

const sp_op_kind sp_op_rmsnorm = {
    .name = "rmsnorm",
    .min_in = 1,
    .max_in = 1,
    .tokens_input = 0,
    .row_wise = 1,
    .compile = rmsnorm_compile,
    .run = rmsnorm_run,
    .lower = rmsnorm_lower,
    .bk_kind = SP_BK_RMSNORM,
    .free_priv = rmsnorm_free,
};
