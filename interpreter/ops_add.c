/* ops_add.c — `add`: the residual connection, a + b elementwise. */
#include "interp_internal.h"

static int add_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    if (cc->in_width[0] != cc->in_width[1])
        return sp_compile_fail(cc, err, "inputs '%s' and '%s' have widths %zu and %zu",
                               cc->gn->in[0], cc->gn->in[1], cc->in_width[0], cc->in_width[1]);
    op->out_width = cc->in_width[0];
    return SP_OK;
}

static void add_run(const sp_op *op, sp_exec *ex) {
    size_t total = ex->n * op->out_width;
    const float *a = ex->in[0], *b = ex->in[1];
    #pragma omp parallel for schedule(static) if (SP_WORTH_PARALLEL(total))
    for (size_t i = 0; i < total; i++) ex->out[i] = a[i] + b[i];
}


const sp_op_kind sp_op_add = {
    .name = "add",
    .min_in = 2,
    .max_in = 2,
    .tokens_input = 0,
    .row_wise = 1,
    .compile = add_compile,
    .run = add_run,
    .bk_kind = SP_BK_ADD,
};
