/* ops_linear.c — `linear`: y = x·Wᵀ (+ b), W [O, D] in PyTorch layout, through sp_gemm_wt over
 * all rows of the call at once (batched prefill); with the CPU's bf16 compute, through
 * sp_gemm_wt_bf16 on bf16 weights (as stored, or a copy made once). */
#include <stdlib.h>

#include "gemm.h"
#include "gemm_bf16.h"
#include "interp_internal.h"

typedef struct {
    sp_weight w;
    float *b;
    const uint16_t *w_bf16;    /* non-NULL: bf16 compute (the stored bf16 weights, or w_copy) */
    uint16_t *w_copy;
} linear_priv;

static void linear_free(void *v) {
    linear_priv *p = v;
    if (p) {
        free(p->b);
        free(p->w_copy);
    }
    free(p);
}

static int linear_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    linear_priv *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    op->priv = p;
    uint64_t want[2] = {0, cc->in_width[0]};
    int r = sp_attr_tensor(cc, "weight", 1, 2, want, &p->w, err);
    if (r < 0) return -r;
    if ((r = sp_attr_tensor_f32(cc, "bias", 0, 1, p->w.rows, &p->b, err)) < 0) return -r;
    op->out_width = (size_t)p->w.rows;
    return SP_OK;
}

static void linear_run(const sp_op *op, sp_exec *ex) {
    const linear_priv *p = op->priv;
    if (p->w_bf16) {
        sp_gemm_wt_bf16(ex->in[0], ex->n, op->in_width[0], p->w_bf16, op->out_width, p->b, ex->out);
        return;
    }
    sp_gemm_wt(ex->in[0], ex->n, op->in_width[0], p->w.data, p->w.dtype, op->out_width, p->b,
               ex->out);
}

/* Weights stored bf16 are used as stored; f32/f16 ones are rounded once into a bf16 copy. */
static int linear_use_bf16(sp_op *op, sp_error *err) {
    linear_priv *p = op->priv;
    return sp_weight_bf16(&p->w, &p->w_bf16, &p->w_copy, err);
}

static void linear_lower(const sp_op *op, sp_bk_op *b) {
    const linear_priv *p = op->priv;
    b->u.linear.weight = sp_bk_weight(&p->w);
    b->u.linear.bias = p->b;
}

const sp_op_kind sp_op_linear = {
    .name = "linear",
    .min_in = 1,
    .max_in = 1,
    .tokens_input = 0,
    .row_wise = 1,
    .compile = linear_compile,
    .run = linear_run,
    .lower = linear_lower,
    .bk_kind = SP_BK_LINEAR,
    .free_priv = linear_free,
    .use_bf16 = linear_use_bf16,
};
