/* backend_lower.c — a compiled model as the backend seam describes it (sparsa_backend.h): every
 * op through its kind's lowering hook, every value version with its width and lifetime. The
 * description points into the model (weights in the mapped file, f32 vectors in the ops'
 * private data), so it lives exactly as long as the model. */
#include <stdlib.h>

#include "interp_internal.h"

static void lower_op(const sp_op *op, sp_bk_op *b) {
    b->kind = op->kind->bk_kind;
    b->name = op->gn->name;
    b->n_in = (int)op->n_in;
    for (size_t j = 0; j < op->n_in; j++) {
        b->in[j] = op->in_ver[j];
        b->in_width[j] = op->in_width[j];
    }
    b->out = op->out_ver;
    b->out_width = op->out_width;
    b->layer = op->layer;
    if (op->kind->lower) op->kind->lower(op, b);
}

int sp_backend_lower(const sp_model *m, sp_backend_ref *r, sp_error *err) {
    const sp_plan *pl = &m->plan;
    r->ops = calloc(m->n_ops ? m->n_ops : 1, sizeof *r->ops);
    r->values = calloc(pl->n_vers ? pl->n_vers : 1, sizeof *r->values);
    if (!r->ops || !r->values) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < m->n_ops; i++) lower_op(&m->ops[i], &r->ops[i]);
    for (size_t v = 0; v < pl->n_vers; v++) {
        r->values[v].name = pl->vers[v].name;
        r->values[v].width = pl->vers[v].width;
        r->values[v].producer = pl->vers[v].producer;
        r->values[v].last_use = pl->vers[v].last_use;
    }
    r->desc = (sp_bk_model){.abi = SP_BACKEND_ABI,
                            .ops = r->ops,
                            .n_ops = m->n_ops,
                            .values = r->values,
                            .n_values = pl->n_vers,
                            .tail_start = pl->tail_start,
                            .out_value = pl->out_ver,
                            .vocab = (int32_t)m->graph->vocab_size,
                            .n_layers = m->n_layers,
                            .context_length = m->graph->context_length};
    return SP_OK;
}
