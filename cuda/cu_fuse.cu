/* cu_fuse.cu — what the executor runs differently from one kernel per op, decided once per
 * model from the plan (docs/ARCHITECTURE.md, "Backends"):
 *
 *  - the body: ops [0, body_end) run on all of a call's rows at once. When the tail is "row-wise
 *    ops → LM head → softcap/scale" (the scoring head can then run in vocabulary chunks,
 *    cu_score.cu), body_end is the head, so the last layer's products run on every row instead
 *    of the tail's blocks;
 *  - a residual add followed by the rmsnorm of its sum runs as one kernel (cu_ops_norm.cu);
 *  - in bf16 precision, a body value made by an rmsnorm whose readers are all products with
 *    bf16 weights (q/k/v, the MLP's up and gate, the LM head, ASEntmax's β/γ projections) is
 *    written only as bf16 rows (its shadow, CU_SCR_SHADOW) that those products read directly:
 *    no f32 rows, no rounding pass. One shadow buffer serves every such value, so two of them
 *    may not be alive at once; the first in op order wins. */
#include <stdlib.h>

#include "cu_internal.h"

/* The LM head op (a linear to the vocabulary followed only by softcap/scale ops to the output)
 * when the plan's tail has that shape, else -1. */
static long find_head(const sp_bk_model *m) {
    size_t vocab = m->values[m->out_value].width;
    for (size_t i = m->tail_start; i < m->n_ops; i++) {
        const sp_bk_op *op = &m->ops[i];
        if (op->kind != SP_BK_LINEAR || op->out_width != vocab) continue;
        int prev = op->out;
        for (size_t j = i + 1; j < m->n_ops; j++) {
            const sp_bk_op *p = &m->ops[j];
            if ((p->kind != SP_BK_SOFTCAP && p->kind != SP_BK_SCALE) || p->in[0] != prev) return -1;
            prev = p->out;
        }
        return prev == m->out_value ? (long)i : -1;
    }
    return -1;
}

/* 1 if op j reads its input k only through cu_gemm with a bf16 weight. */
static int product_input(const cu_model *cm, size_t j, int k) {
    const sp_bk_op *op = &cm->m->ops[j];
    const cu_op_dev *d = &cm->dev[j];
    if (op->kind == SP_BK_LINEAR) return k == 0 && d->w[0].dtype == CU_BF16;
    if (op->kind == SP_BK_MLP)
        return k == 0 && d->w[0].dtype == CU_BF16 &&
               (!op->u.mlp.gated || d->gate_up || d->w[1].dtype == CU_BF16);
    if (op->kind == SP_BK_ATTENTION)
        return k == 3 && op->u.attn.qscale == SP_BK_QS_ASENTMAX && d->w[0].dtype == CU_BF16 &&
               d->w[1].dtype == CU_BF16;
    return 0;
}

/* 1 if value v (made by an rmsnorm in the body) is read only by products. */
static int products_only(const cu_model *cm, int v) {
    const sp_bk_model *m = cm->m;
    int readers = 0;
    for (size_t j = 0; j < m->n_ops; j++)
        for (int k = 0; k < m->ops[j].n_in && k < 4; k++) {
            if (m->ops[j].in[k] != v) continue;
            if (!product_input(cm, j, k)) return 0;
            readers++;
        }
    return readers > 0;
}

static void plan_shadows(cu_model *cm) {
    const sp_bk_model *m = cm->m;
    long busy_until = -1;  /* last reader of the value holding the shadow buffer */
    for (size_t op = 0; op < cm->body_end; op++) {
        if (m->ops[op].kind != SP_BK_RMSNORM) continue;
        int v = m->ops[op].out;
        if (v == m->out_value || (long)op <= busy_until || !products_only(cm, v)) continue;
        cm->shadow[v] = 1;
        busy_until = m->values[v].last_use;
    }
}

int cu_fuse_plan(cu_model *cm, sp_error *err) {
    const sp_bk_model *m = cm->m;
    long head = find_head(m);
    cm->head = head;
    cm->body_end = head >= 0 && (size_t)head > m->tail_start ? (size_t)head : m->tail_start;
    cm->run_as = (unsigned char *)calloc(m->n_ops + 1, 1);
    cm->shadow = (unsigned char *)calloc(m->n_values + 1, 1);
    if (!cm->run_as || !cm->shadow) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i + 1 < cm->body_end; i++) {
        const sp_bk_op *a = &m->ops[i], *n = &m->ops[i + 1];
        if (a->kind == SP_BK_ADD && n->kind == SP_BK_RMSNORM && n->in[0] == a->out &&
            n->out_width == a->out_width && !cm->run_as[i]) {
            cm->run_as[i] = CU_RUN_ADD_NORM;
            cm->run_as[i + 1] = CU_RUN_FUSED;
        }
    }
    if (cm->prec == SP_PREC_BF16 && !getenv("SPARSA_CUDA_NO_SHADOW")) plan_shadows(cm);
    return SP_OK;
}

void cu_fuse_free(cu_model *cm) {
    free(cm->run_as);
    free(cm->shadow);
    cm->run_as = cm->shadow = NULL;
}

const void *cu_shadow_rows(const cu_session *s, int src, const float *x) {
    const sp_bk_model *m = s->cm->m;
    if (src < 0 || (size_t)src >= m->n_values || !s->cm->shadow || !s->cm->shadow[src])
        return NULL;
    const float *base = cu_plan_value(s, src, 0);
    return (const char *)s->scr[CU_SCR_SHADOW] + (size_t)(x - base) * 2;
}
