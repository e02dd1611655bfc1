/* cu_ops_table.cu — the CUDA module's op table: sp_bk_kind → what to upload once per model
 * and which launcher runs it (the CPU's table is interpreter/op_registry.c). Adding an op is
 * one row here plus its launcher in a cu_ops_*.cu file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_internal.h"

/* Uploads of the ops whose parameters are plain weights and vectors. */
static int upload_embed(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err) {
    return cu_model_weight(cm, &op->u.embed.table, cm->prec, &dev->w[0], err);
}

static int upload_norm(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err) {
    (void)cm;
    size_t d = op->out_width;
    int rc = cu_floats_upload(op->u.norm.weight, d, &dev->vec[0], err);
    if (!rc && op->kind == SP_BK_LAYERNORM)
        rc = cu_floats_upload(op->u.norm.bias, d, &dev->vec[1], err);
    return rc;
}

static int upload_rope(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err) {
    (void)cm;
    return cu_floats_upload(op->u.rope.inv_freq, op->u.rope.rot / 2, &dev->vec[0], err);
}

/* SPARSA_CUDA_HEAD_PRECISION=fp32 (a diagnostic of bf16 runs): the LM head in fp32. */
static int upload_linear(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err) {
    const char *hp = getenv("SPARSA_CUDA_HEAD_PRECISION");
    sp_precision prec = hp && !strcmp(hp, "fp32") && op->out_width == (size_t)cm->m->vocab
                            ? SP_PREC_FP32 : cm->prec;
    int rc = cu_model_weight(cm, &op->u.linear.weight, prec, &dev->w[0], err);
    if (!rc) rc = cu_floats_upload(op->u.linear.bias, op->out_width, &dev->vec[0], err);
    return rc;
}

static int upload_mlp(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err) {
    size_t hid = op->u.mlp.hidden;
    int rc = cu_model_weight(cm, &op->u.mlp.up, cm->prec, &dev->w[0], err);
    if (!rc && op->u.mlp.gated) rc = cu_model_weight(cm, &op->u.mlp.gate, cm->prec, &dev->w[1], err);
    if (!rc && cu_mlp_gate_up(cm, op) && dev->w[0].dtype == CU_BF16 && dev->w[1].dtype == CU_BF16) {
        cu_weight up = dev->w[0], gate = dev->w[1];
        dev->w[1] = cu_weight{};
        rc = cu_weight_stack(&gate, &up, &dev->w[0], err);
        dev->gate_up = !rc;
    }
    if (!rc) rc = cu_model_weight(cm, &op->u.mlp.down, cm->prec, &dev->w[2], err);
    if (!rc) rc = cu_floats_upload(op->u.mlp.up_b, hid, &dev->vec[0], err);
    if (!rc) rc = cu_floats_upload(op->u.mlp.gate_b, hid, &dev->vec[1], err);
    if (!rc) rc = cu_floats_upload(op->u.mlp.down_b, op->out_width, &dev->vec[2], err);
    return rc;
}

static int run_softcap(cu_exec *ex, sp_error *err) {
    return cu_run_softcap_n(ex->in[0], ex->out, ex->n * ex->op->out_width,
                            ex->op->u.scalar.value, ex->s->stream, err);
}

static int run_scale(cu_exec *ex, sp_error *err) {
    return cu_run_scale_n(ex->in[0], ex->out, ex->n * ex->op->out_width, ex->op->u.scalar.value,
                          ex->s->stream, err);
}

typedef struct op_row {
    sp_bk_kind kind;
    const char *name;
    int (*upload)(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err);
    int (*run)(cu_exec *ex, sp_error *err);
} op_row;

static const op_row op_table[] = {
    {SP_BK_EMBED, "embed", upload_embed, cu_run_embed},
    {SP_BK_RMSNORM, "rmsnorm", upload_norm, cu_run_rmsnorm},
    {SP_BK_LAYERNORM, "layernorm", upload_norm, cu_run_layernorm},
    {SP_BK_LINEAR, "linear", upload_linear, cu_run_linear},
    {SP_BK_ROPE, "rope", upload_rope, cu_run_rope},
    {SP_BK_ATTENTION, "attention", cu_attention_upload, cu_run_attention},
    {SP_BK_MLP, "mlp", upload_mlp, cu_run_mlp},
    {SP_BK_ADD, "add", NULL, cu_run_add},
    {SP_BK_SOFTCAP, "softcap", NULL, run_softcap},
    {SP_BK_SCALE, "scale", NULL, run_scale},
};

static const op_row *find_row(sp_bk_kind kind) {
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        if (op_table[i].kind == kind) return &op_table[i];
    return NULL;
}

int cu_op_supported(const sp_bk_op *op, char *why, size_t why_len) {
    if (!find_row(op->kind)) {
        snprintf(why, why_len, "op kind %d has no CUDA kernel", (int)op->kind);
        return 0;
    }
    if (op->kind == SP_BK_ATTENTION) return cu_attention_supported(&op->u.attn, why, why_len);
    return 1;
}

int cu_op_upload(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err) {
    const op_row *row = find_row(op->kind);
    return row && row->upload ? row->upload(cm, op, dev, err) : SP_OK;
}

void cu_op_free(cu_op_dev *dev) {
    for (int i = 0; i < 3; i++) cu_weight_free(&dev->w[i]);
    for (int i = 0; i < 4; i++) {
        if (dev->vec[i]) cudaFree(dev->vec[i]);
        dev->vec[i] = NULL;
    }
}

int cu_op_run(cu_exec *ex, sp_error *err) {
    const op_row *row = find_row(ex->op->kind);
    if (!row) return sp_fail(err, SP_ERR_INPUT, "op '%s' has no CUDA kernel", ex->op->name);
    return ex->n ? row->run(ex, err) : SP_OK;
}
