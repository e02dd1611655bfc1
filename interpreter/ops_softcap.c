/* ops_softcap.c — `softcap`: y = cap·tanh(x/cap) (Gemma 2's final logit soft-capping). */
#include <math.h>
#include <stdlib.h>

#include "interp_internal.h"

static int softcap_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    double cap = 0;
    int r = sp_attr_float(cc, "cap", 1, &cap, err);
    if (r < 0) return -r;
    if (!(cap > 0)) return sp_compile_fail(cc, err, "cap must be > 0");
    float *p = malloc(sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    *p = (float)cap;
    op->priv = p;
    op->out_width = cc->in_width[0];
    return SP_OK;
}

static void softcap_run(const sp_op *op, sp_exec *ex) {
    float cap = *(const float *)op->priv;
    size_t total = ex->n * op->out_width;
    #pragma omp parallel for schedule(static) if (SP_WORTH_PARALLEL(total))
    for (size_t i = 0; i < total; i++) ex->out[i] = tanhf(ex->in[0][i] / cap) * cap;
}

static void softcap_lower(const sp_op *op, sp_bk_op *b) {
    b->u.scalar.value = *(const float *)op->priv;
}

const sp_op_kind sp_op_softcap = {
    .name = "softcap",
    .min_in = 1,
    .max_in = 1,
    .tokens_input = 0,
    .row_wise = 1,
    .compile = softcap_compile,
    .run = softcap_run,
    .lower = softcap_lower,
    .bk_kind = SP_BK_SOFTCAP,
    .free_priv = free,
};
