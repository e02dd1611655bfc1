/* plan.c — the execution plan: which physical buffer holds each value version, and which ops
 * form the "logits tail".
 *
 * Every op but attention is row-wise, so the ops after the last attention op (final norm,
 * LM head, logit softcap) run in blocks of at most SP_LOGIT_BLOCK rows: the [n, vocab] logits never
 * exist whole, only [block, vocab]. The ops before ("the body") run on all rows.
 *
 * Buffers are shared between versions whose lifetimes do not overlap (greedy, in op order):
 * an op's output gets a free buffer before its dead inputs are released, so an output never
 * aliases an input. Body buffers hold max_tokens rows, tail buffers one block. */
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

typedef struct {
    size_t *width;
    int *busy;
    size_t n, cap;
} pool;

static int pool_take(pool *p, size_t width) {
    /* Prefer the smallest free buffer that fits, else grow the largest free one. */
    int best = -1;
    for (size_t i = 0; i < p->n; i++) {
        if (p->busy[i]) continue;
        if (best < 0) { best = (int)i; continue; }
        size_t wi = p->width[i], wb = p->width[best];
        int fits_i = wi >= width, fits_b = wb >= width;
        if ((fits_i && (!fits_b || wi < wb)) || (!fits_i && !fits_b && wi > wb)) best = (int)i;
    }
    if (best < 0) {
        if (p->n == p->cap) {
            size_t nc = p->cap ? p->cap * 2 : 16;
            size_t *w = realloc(p->width, nc * sizeof *w);
            if (!w) return -1;
            p->width = w;
            int *b = realloc(p->busy, nc * sizeof *b);
            if (!b) return -1;
            p->busy = b;
            p->cap = nc;
        }
        best = (int)p->n++;
        p->width[best] = 0;
    }
    if (p->width[best] < width) p->width[best] = width;
    p->busy[best] = 1;
    return best;
}

void sp_plan_free(sp_plan *p) {
    free(p->vers);
    free(p->body_buf_width);
    free(p->tail_buf_width);
    memset(p, 0, sizeof *p);
}

int sp_plan_build(sp_model *m, sp_error *err) {
    sp_plan *pl = &m->plan;
    /* The tail starts after the last op that is not row-wise. */
    pl->tail_start = 0;
    for (size_t i = 0; i < m->n_ops; i++)
        if (!m->ops[i].kind->row_wise) pl->tail_start = i + 1;
    if ((size_t)pl->vers[pl->out_ver].producer < pl->tail_start)
        return sp_fail(err, SP_ERR_INPUT,
                       "graph node '%s': the output '%s' must be written after the last attention op",
                       m->ops[pl->vers[pl->out_ver].producer].gn->name, m->graph->output);
    for (size_t i = 0; i < m->n_ops; i++)
        for (size_t j = 0; j < m->ops[i].n_in; j++)
            if (m->ops[i].in_ver[j] >= 0) pl->vers[m->ops[i].in_ver[j]].last_use = (int)i;
    /* The output is read by the sink after its producer. */
    if (pl->vers[pl->out_ver].last_use < pl->vers[pl->out_ver].producer)
        pl->vers[pl->out_ver].last_use = pl->vers[pl->out_ver].producer;

    pool body = {0}, tail = {0};
    int rc = SP_OK;
    for (size_t i = 0; i < m->n_ops && !rc; i++) {
        sp_op *op = &m->ops[i];
        sp_value_ver *ov = &pl->vers[op->out_ver];
        ov->in_tail = i >= pl->tail_start;
        ov->buffer = pool_take(ov->in_tail ? &tail : &body, ov->width);
        if (ov->buffer < 0) { rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory"); break; }
        /* Release versions of this pool whose last reader is this op (or that nobody reads).
         * Body versions read by the tail stay busy to the end of the body. */
        for (size_t j = 0; j <= op->n_in; j++) {
            int v = j < op->n_in ? op->in_ver[j] : op->out_ver;
            if (v < 0) continue;
            sp_value_ver *vv = &pl->vers[v];
            int dead = j < op->n_in ? vv->last_use == (int)i : vv->last_use < 0;
            if (!dead || vv->in_tail != ov->in_tail) continue;
            int dup = 0;  /* the same version read twice (add x x) is released once */
            for (size_t k = 0; k < j && k < op->n_in; k++) dup |= op->in_ver[k] == v;
            if (!dup) (vv->in_tail ? &tail : &body)->busy[vv->buffer] = 0;
        }
    }
    pl->body_buf_width = body.width;
    pl->n_body_bufs = body.n;
    pl->tail_buf_width = tail.width;
    pl->n_tail_bufs = tail.n;
    free(body.busy);
    free(tail.busy);
    return rc;
}
