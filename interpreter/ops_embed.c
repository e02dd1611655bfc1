/* ops_embed.c — `embed`: rows of the embedding table, optionally times a scale (Gemma's √D). */
#include <stdlib.h>

#include "gemm.h"
#include "interp_internal.h"

typedef struct {
    sp_weight w;
    float scale;
} embed_priv;

static int embed_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    embed_priv *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    op->priv = p;
    int r = sp_attr_tensor(cc, "weight", 1, 2, NULL, &p->w, err);
    if (r < 0) return -r;
    if (p->w.rows < (uint64_t)cc->graph->vocab_size)
        return sp_compile_fail(cc, err, "embedding table has %llu rows, fewer than vocab_size %lld",
                               (unsigned long long)p->w.rows, (long long)cc->graph->vocab_size);
    double s = 1.0;
    r = sp_attr_float(cc, "scale", 0, &s, err);
    if (r < 0) return -r;
    p->scale = (float)s;
    op->out_width = (size_t)p->w.cols;
    return SP_OK;
}

static void embed_run(const sp_op *op, sp_exec *ex) {
    const embed_priv *p = op->priv;
    size_t d = op->out_width;
    #pragma omp parallel for schedule(static) if (SP_WORTH_PARALLEL(ex->n * d))
    for (size_t i = 0; i < ex->n; i++) {
        float *o = ex->out + i * d;
        sp_weight_row_f32(p->w.data, p->w.dtype, (size_t)ex->tokens[i], d, o);
        if (p->scale != 1.0f)
            for (size_t c = 0; c < d; c++) o[c] *= p->scale;
    }
}

static void embed_lower(const sp_op *op, sp_bk_op *b) {
    const embed_priv *p = op->priv;
    b->u.embed.table = sp_bk_weight(&p->w);
    b->u.embed.scale = p->scale;
}

const sp_op_kind sp_op_embed = {
    .name = "embed",
    .min_in = 1,
    .max_in = 1,
    .tokens_input = 1,
    .row_wise = 1,
    .compile = embed_compile,
    .run = embed_run,
    .lower = embed_lower,
    .bk_kind = SP_BK_EMBED,
    .free_priv = free,
};
