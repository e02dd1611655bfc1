/* ops_scale.c — `scale`: y = factor·x. */
#include <stdlib.h>

#include "interp_internal.h"

static int scale_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    double f = 0;
    int r = sp_attr_float(cc, "factor", 1, &f, err);
    if (r < 0) return -r;
    float *p = malloc(sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    *p = (float)f;
    op->priv = p;
    op->out_width = cc->in_width[0];
    return SP_OK;
}

static void scale_run(const sp_op *op, sp_exec *ex) {
    float f = *(const float *)op->priv;
    size_t total = ex->n * op->out_width;
    #pragma omp parallel for schedule(static) if (SP_WORTH_PARALLEL(total))
    for (size_t i = 0; i < total; i++) ex->out[i] = ex->in[0][i] * f;
}

static void scale_lower(const sp_op *op, sp_bk_op *b) {
    b->u.scalar.value = *(const float *)op->priv;
}

const sp_op_kind sp_op_scale = {
    .name = "scale",
    .min_in = 1,
    .max_in = 1,
    .tokens_input = 0,
    .row_wise = 1,
    .compile = scale_compile,
    .run = scale_run,
    .lower = scale_lower,
    .bk_kind = SP_BK_SCALE,
    .free_priv = free,
};
