/* ops_mlp.c — `mlp`: gated (SwiGLU, GeGLU) out = down(act(gate(x)) ⊙ up(x)) or plain
 * out = down(act(up(x))). Rows are processed in chunks of SP_ROW_CHUNK so the hidden
 * activations take [SP_ROW_CHUNK, I], not [n, I], at long windows. With the CPU's bf16 compute
 * the three products run in bf16 (kernels/gemm_bf16.h); the activation stays fp32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "gemm_bf16.h"
#include "interp_internal.h"

typedef enum { ACT_SILU, ACT_GELU_TANH, ACT_GELU, ACT_RELU } act_kind;

typedef struct {
    act_kind act;
    int gated;
    size_t hidden;
    sp_weight gate, up, down;
    float *gate_b, *up_b, *down_b;
    int bf16;                     /* 1: the products in bf16, on the weights below */
    const uint16_t *gate16, *up16, *down16;
    uint16_t *copies[3];          /* bf16 copies of f32/f16 weights (NULL for stored bf16) */
} mlp_priv;

static void mlp_free(void *v) {
    mlp_priv *p = v;
    if (p) {
        free(p->gate_b);
        free(p->up_b);
        free(p->down_b);
        for (int i = 0; i < 3; i++) free(p->copies[i]);
    }
    free(p);
}

static int mlp_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    mlp_priv *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    op->priv = p;
    size_t d = cc->in_width[0];
    const char *act = NULL;
    int r;
    if ((r = sp_attr_string(cc, "activation", 1, &act, err)) < 0) return -r;
    if (!strcmp(act, "silu")) p->act = ACT_SILU;
    else if (!strcmp(act, "gelu_tanh")) p->act = ACT_GELU_TANH;
    else if (!strcmp(act, "gelu")) p->act = ACT_GELU;
    else if (!strcmp(act, "relu")) p->act = ACT_RELU;
    else return sp_compile_fail(cc, err, "activation must be silu, gelu_tanh, gelu or relu (got '%s')", act);
    if ((r = sp_attr_bool(cc, "gated", 1, &p->gated, err)) < 0) return -r;
    uint64_t want_up[2] = {0, d};
    if ((r = sp_attr_tensor(cc, "up", 1, 2, want_up, &p->up, err)) < 0) return -r;
    p->hidden = (size_t)p->up.rows;
    uint64_t want_gate[2] = {p->hidden, d}, want_down[2] = {d, p->hidden};
    if ((r = sp_attr_tensor(cc, "gate", p->gated, 2, want_gate, &p->gate, err)) < 0) return -r;
    if (r > 0 && !p->gated) return sp_compile_fail(cc, err, "attribute 'gate' needs gated: true");
    if ((r = sp_attr_tensor(cc, "down", 1, 2, want_down, &p->down, err)) < 0) return -r;
    if ((r = sp_attr_tensor_f32(cc, "gate_bias", 0, 1, p->hidden, &p->gate_b, err)) < 0) return -r;
    if (r > 0 && !p->gated) return sp_compile_fail(cc, err, "attribute 'gate_bias' needs gated: true");
    if ((r = sp_attr_tensor_f32(cc, "up_bias", 0, 1, p->hidden, &p->up_b, err)) < 0) return -r;
    if ((r = sp_attr_tensor_f32(cc, "down_bias", 0, 1, d, &p->down_b, err)) < 0) return -r;
    op->out_width = d;
    op->scratch_per_row = (p->gated ? 2 : 1) * p->hidden;
    return SP_OK;
}

/* y[i] = act(y[i]) (· m[i] when m is given); one loop per activation so each vectorises. */
static void apply_act(act_kind k, float *y, const float *m, size_t n) {
    switch (k) {
    case ACT_SILU:
        #pragma omp parallel for simd schedule(static) if (SP_WORTH_PARALLEL(n))
        for (size_t i = 0; i < n; i++) y[i] = sp_silu(y[i]) * (m ? m[i] : 1.0f);
        break;
    case ACT_GELU_TANH:
        #pragma omp parallel for simd schedule(static) if (SP_WORTH_PARALLEL(n))
        for (size_t i = 0; i < n; i++) y[i] = sp_gelu_tanh(y[i]) * (m ? m[i] : 1.0f);
        break;
    case ACT_GELU:
        #pragma omp parallel for schedule(static) if (SP_WORTH_PARALLEL(n))
        for (size_t i = 0; i < n; i++) y[i] = sp_gelu_erf(y[i]) * (m ? m[i] : 1.0f);
        break;
    default:
        #pragma omp parallel for simd schedule(static) if (SP_WORTH_PARALLEL(n))
        for (size_t i = 0; i < n; i++) y[i] = (y[i] > 0 ? y[i] : 0.0f) * (m ? m[i] : 1.0f);
        break;
    }
}

/* One of the three products: fp32 on the weights as stored, or bf16. */
static void product(const mlp_priv *p, const sp_weight *w, const uint16_t *w16, const float *x,
                    size_t m, size_t k, size_t n, const float *bias, float *y) {
    if (p->bf16) sp_gemm_wt_bf16(x, m, k, w16, n, bias, y);
    else sp_gemm_wt(x, m, k, w->data, w->dtype, n, bias, y);
}

static void mlp_run(const sp_op *op, sp_exec *ex) {
    const mlp_priv *p = op->priv;
    size_t d = op->out_width, hid = p->hidden, chunk = ex->scratch_rows;
    float *u = ex->scratch, *g = ex->scratch + chunk * hid;
    for (size_t r0 = 0; r0 < ex->n; r0 += chunk) {
        size_t m = ex->n - r0 < chunk ? ex->n - r0 : chunk;
        const float *x = ex->in[0] + r0 * d;
        product(p, &p->up, p->up16, x, m, d, hid, p->up_b, u);
        if (p->gated) {
            product(p, &p->gate, p->gate16, x, m, d, hid, p->gate_b, g);
            apply_act(p->act, g, u, m * hid);   /* g = act(gate) ⊙ up */
            product(p, &p->down, p->down16, g, m, hid, d, p->down_b, ex->out + r0 * d);
        } else {
            apply_act(p->act, u, NULL, m * hid);
            product(p, &p->down, p->down16, u, m, hid, d, p->down_b, ex->out + r0 * d);
        }
    }
}

static int mlp_use_bf16(sp_op *op, sp_error *err) {
    mlp_priv *p = op->priv;
    int rc = sp_weight_bf16(&p->up, &p->up16, &p->copies[0], err);
    if (!rc && p->gated) rc = sp_weight_bf16(&p->gate, &p->gate16, &p->copies[1], err);
    if (!rc) rc = sp_weight_bf16(&p->down, &p->down16, &p->copies[2], err);
    if (!rc) p->bf16 = 1;
    return rc;
}

/* act_kind and sp_bk_act list the activations in the same order. */
static void mlp_lower(const sp_op *op, sp_bk_op *b) {
    const mlp_priv *p = op->priv;
    static const sp_bk_act acts[] = {[ACT_SILU] = SP_BK_SILU, [ACT_GELU_TANH] = SP_BK_GELU_TANH,
                                     [ACT_GELU] = SP_BK_GELU, [ACT_RELU] = SP_BK_RELU};
    b->u.mlp.act = acts[p->act];
    b->u.mlp.gated = p->gated;
    b->u.mlp.hidden = p->hidden;
    b->u.mlp.up = sp_bk_weight(&p->up);
    if (p->gated) b->u.mlp.gate = sp_bk_weight(&p->gate);
    b->u.mlp.down = sp_bk_weight(&p->down);
    b->u.mlp.up_b = p->up_b;
    b->u.mlp.gate_b = p->gate_b;
    b->u.mlp.down_b = p->down_b;
}

const sp_op_kind sp_op_mlp = {
    .name = "mlp",
    .min_in = 1,
    .max_in = 1,
    .tokens_input = 0,
    .row_wise = 1,
    .compile = mlp_compile,
    .run = mlp_run,
    .lower = mlp_lower,
    .bk_kind = SP_BK_MLP,
    .free_priv = mlp_free,
    .use_bf16 = mlp_use_bf16,
};
