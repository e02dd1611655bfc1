/* ops_attention.c — the `attention` op's glue (format/GRAPH.md §5): q, k, v come from earlier
 * nodes (projections and RoPE are ordinary ops). The op appends k, v to its layer's KV cache,
 * computes the per-row query scale factors, then runs sp_attention_forward over every cached
 * key. Rows are processed in chunks of SP_ROW_CHUNK queries (the query-scale scratch is per
 * row); each query row is computed independently, so chunking changes no number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "gemm.h"
#include "interp_internal.h"

typedef struct {
    sp_attn_params ap;               /* first: sp_model_attention_heads reads it */
    sp_qscale_params qp;
    float *slopes;
    float *beta, *gamma;             /* ssmax / learn constants */
    sp_weight beta_w, gamma_w;       /* asentmax projections [Hs, D] */
    float *beta_b, *gamma_b;
} attn_priv;

static void attn_free(void *v) {
    attn_priv *p = v;
    if (p) {
        free(p->slopes);
        free(p->beta);
        free(p->gamma);
        free(p->beta_b);
        free(p->gamma_b);
    }
    free(p);
}

#define TRY(call) do { int r_ = (call); if (r_ < 0) return -r_; } while (0)

static int attn_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    attn_priv *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    op->priv = p;
    sp_attn_params *ap = &p->ap;
    sp_qscale_params *qp = &p->qp;
    long long heads = 0, kvh = 0, d = 0, dv = 0, window = 0, topk = 0, hs = 0, logoff = 2;
    double scale = 0, softcap = 0, alpha = 0, delta = 1, grange = 2;
    int causal = 1;
    const char *norm = NULL, *rule = NULL, *qs = NULL;
    TRY(sp_attr_int(cc, "heads", 1, 1, 1 << 16, &heads, err));
    TRY(sp_attr_int(cc, "kv_heads", 1, 1, 1 << 16, &kvh, err));
    TRY(sp_attr_int(cc, "head_dim", 1, 1, 1 << 16, &d, err));
    dv = d;
    TRY(sp_attr_int(cc, "value_dim", 0, 1, 1 << 16, &dv, err));
    TRY(sp_attr_float(cc, "scale", 1, &scale, err));
    TRY(sp_attr_bool(cc, "causal", 0, &causal, err));
    TRY(sp_attr_int(cc, "window", 0, 0, (long long)1 << 40, &window, err));
    TRY(sp_attr_float(cc, "softcap", 0, &softcap, err));
    TRY(sp_attr_string(cc, "normalizer", 1, &norm, err));
    int has_alpha, has_topk, has_rule;
    TRY(has_alpha = sp_attr_float(cc, "alpha", 0, &alpha, err));
    TRY(has_topk = sp_attr_int(cc, "topk", 0, 1, (long long)1 << 40, &topk, err));
    TRY(has_rule = sp_attr_string(cc, "topk_rule", 0, &rule, err));
    size_t n_slopes = 0;
    int has_slopes;
    TRY(has_slopes = sp_attr_floats(cc, "alibi_slopes", 0, &p->slopes, &n_slopes, err));
    TRY(sp_attr_string(cc, "query_scale", 0, &qs, err));

    if (heads % kvh)
        return sp_compile_fail(cc, err, "heads %lld is not a multiple of kv_heads %lld", heads, kvh);
    if (softcap < 0) return sp_compile_fail(cc, err, "softcap must be >= 0");
    if (has_slopes && n_slopes != (size_t)heads)
        return sp_compile_fail(cc, err, "alibi_slopes has %zu entries, heads is %lld", n_slopes, heads);
    ap->heads = (int)heads;
    ap->kv_heads = (int)kvh;
    ap->head_dim = (int)d;
    ap->value_dim = (int)dv;
    ap->scale = (float)scale;
    ap->causal = causal;
    ap->window = (int)(window > 0x7fffffff ? 0x7fffffff : window);
    ap->softcap = (float)softcap;
    ap->alibi_slopes = p->slopes;

    if (!strcmp(norm, "softmax")) ap->normalizer = SP_NORM_SOFTMAX;
    else if (!strcmp(norm, "entmax")) {
        ap->normalizer = SP_NORM_ENTMAX;
        if (!has_alpha) return sp_compile_fail(cc, err, "missing attribute 'alpha' (entmax)");
        if (!(alpha > 1)) return sp_compile_fail(cc, err, "alpha must be > 1 (got %g)", alpha);
        ap->alpha = (float)alpha;
    } else if (!strcmp(norm, "sparsemax")) {
        ap->normalizer = SP_NORM_ENTMAX;
        ap->alpha = 2.0f;
    } else if (!strcmp(norm, "adaptive_softmax")) ap->normalizer = SP_NORM_ADAPTIVE_SOFTMAX;
    else if (!strcmp(norm, "stickbreaking")) ap->normalizer = SP_NORM_STICKBREAKING;
    else if (!strcmp(norm, "topk")) {
        ap->normalizer = SP_NORM_TOPK;
        if (!has_topk) return sp_compile_fail(cc, err, "missing attribute 'topk'");
        ap->topk = (int)(topk > 0x7fffffff ? 0x7fffffff : topk);
        if (has_rule && !strcmp(rule, "div2")) ap->topk_div2 = 1;
        else if (has_rule && strcmp(rule, "fixed"))
            return sp_compile_fail(cc, err, "topk_rule must be fixed or div2 (got '%s')", rule);
    } else
        return sp_compile_fail(cc, err,
                               "normalizer must be softmax, entmax, sparsemax, adaptive_softmax, "
                               "stickbreaking or topk (got '%s')", norm);
    if (has_alpha && ap->normalizer != SP_NORM_ENTMAX)
        return sp_compile_fail(cc, err, "attribute 'alpha' applies to normalizer entmax only");
    if (has_alpha && !strcmp(norm, "sparsemax"))
        return sp_compile_fail(cc, err, "attribute 'alpha' does not apply to sparsemax (α = 2)");
    if ((has_topk || has_rule) && ap->normalizer != SP_NORM_TOPK)
        return sp_compile_fail(cc, err, "attributes 'topk'/'topk_rule' apply to normalizer topk only");

    /* query scale */
    qp->kind = SP_QSCALE_NONE;
    if (qs && !strcmp(qs, "asentmax")) qp->kind = SP_QSCALE_ASENTMAX;
    else if (qs && !strcmp(qs, "ssmax")) qp->kind = SP_QSCALE_SSMAX;
    else if (qs && !strcmp(qs, "learn")) qp->kind = SP_QSCALE_LEARN;
    else if (qs && strcmp(qs, "none"))
        return sp_compile_fail(cc, err, "query_scale must be none, asentmax, ssmax or learn (got '%s')", qs);
    size_t want_in = qp->kind == SP_QSCALE_ASENTMAX ? 4 : 3;
    if (cc->n_in != want_in)
        return sp_compile_fail(cc, err, "takes %zu inputs (q, k, v%s), got %zu", want_in,
                               want_in == 4 ? ", h" : "", cc->n_in);
    if (cc->in_width[0] != (size_t)(heads * d))
        return sp_compile_fail(cc, err, "q '%s' has width %zu, heads·head_dim = %lld", cc->gn->in[0],
                               cc->in_width[0], heads * d);
    if (cc->in_width[1] != (size_t)(kvh * d))
        return sp_compile_fail(cc, err, "k '%s' has width %zu, kv_heads·head_dim = %lld", cc->gn->in[1],
                               cc->in_width[1], kvh * d);
    if (cc->in_width[2] != (size_t)(kvh * dv))
        return sp_compile_fail(cc, err, "v '%s' has width %zu, kv_heads·value_dim = %lld", cc->gn->in[2],
                               cc->in_width[2], kvh * dv);
    int has_hs, has_delta, has_grange, has_logoff;
    TRY(has_hs = sp_attr_int(cc, "scaled_heads", 0, 0, (long long)1 << 16, &hs, err));
    TRY(has_delta = sp_attr_float(cc, "scale_delta", 0, &delta, err));
    TRY(has_grange = sp_attr_float(cc, "gamma_range", 0, &grange, err));
    TRY(has_logoff = sp_attr_int(cc, "log_offset", 0, 1, 1 << 30, &logoff, err));
    if (qp->kind == SP_QSCALE_NONE) {
        static const char *const extra[] = {"scaled_heads", "scale_delta", "gamma_range", "log_offset",
                                            "beta_weight", "beta_bias", "gamma_weight", "gamma_bias",
                                            "beta", "gamma"};
        for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
            for (size_t a = 0; a < cc->gn->n_attrs; a++)
                if (!strcmp(cc->gn->attrs[a].key, extra[i]))
                    return sp_compile_fail(cc, err, "attribute '%s' needs a query_scale", extra[i]);
    } else {
        if (!has_hs) return sp_compile_fail(cc, err, "missing attribute 'scaled_heads'");
        if (hs > heads)
            return sp_compile_fail(cc, err, "scaled_heads %lld > heads %lld", hs, heads);
        qp->heads = (int)heads;
        qp->scaled_heads = (int)hs;
        qp->delta = (float)delta;
        qp->gamma_range = (float)grange;
        qp->log_offset = (int)logoff;
        if (qp->kind == SP_QSCALE_ASENTMAX) {
            size_t dh = cc->in_width[3];
            uint64_t want[2] = {(uint64_t)hs, dh};
            TRY(sp_attr_tensor(cc, "beta_weight", 1, 2, want, &p->beta_w, err));
            TRY(sp_attr_tensor(cc, "gamma_weight", 1, 2, want, &p->gamma_w, err));
            TRY(sp_attr_tensor_f32(cc, "beta_bias", 0, 1, (uint64_t)hs, &p->beta_b, err));
            TRY(sp_attr_tensor_f32(cc, "gamma_bias", 0, 1, (uint64_t)hs, &p->gamma_b, err));
            op->scratch_per_row = (size_t)heads + 2 * (size_t)hs;
        } else {
            TRY(sp_attr_tensor_f32(cc, "beta", 1, 0, (uint64_t)hs, &p->beta, err));
            if (qp->kind == SP_QSCALE_LEARN)
                TRY(sp_attr_tensor_f32(cc, "gamma", 1, 0, (uint64_t)hs, &p->gamma, err));
            op->scratch_per_row = (size_t)heads;
        }
        qp->beta = p->beta;
        qp->gamma = p->gamma;
        (void)has_delta;
        (void)has_grange;
        (void)has_logoff;
    }
    op->out_width = (size_t)(heads * dv);
    return SP_OK;
}

static void attn_run(const sp_op *op, sp_exec *ex) {
    const attn_priv *p = op->priv;
    sp_session *s = ex->s;
    sp_kv_layer *kv = &s->kv[op->layer];
    memcpy(kv->k + ex->pos0 * kv->k_width, ex->in[1], ex->n * kv->k_width * sizeof(float));
    memcpy(kv->v + ex->pos0 * kv->v_width, ex->in[2], ex->n * kv->v_width * sizeof(float));
    size_t nk = ex->pos0 + ex->n, qw = op->in_width[0], ow = op->out_width;
    size_t chunk = p->qp.kind == SP_QSCALE_NONE ? ex->n : ex->scratch_rows;
    sp_attn_stats *stats = s->stats_on ? s->stats[op->layer] : NULL;
    for (size_t r0 = 0; r0 < ex->n; r0 += chunk) {
        size_t m = ex->n - r0 < chunk ? ex->n - r0 : chunk;
        float *qscale = NULL;
        if (p->qp.kind != SP_QSCALE_NONE) {
            size_t hs = (size_t)p->qp.scaled_heads;
            qscale = ex->scratch;
            float *bl = NULL, *gl = NULL;
            if (p->qp.kind == SP_QSCALE_ASENTMAX) {
                bl = qscale + chunk * (size_t)p->ap.heads;
                gl = bl + chunk * hs;
                const float *h = ex->in[3] + r0 * op->in_width[3];
                if (hs) {
                    sp_gemm_wt(h, m, op->in_width[3], p->beta_w.data, p->beta_w.dtype, hs, p->beta_b, bl);
                    sp_gemm_wt(h, m, op->in_width[3], p->gamma_w.data, p->gamma_w.dtype, hs, p->gamma_b, gl);
                }
            }
            sp_query_scale(&p->qp, ex->pos0 + r0, m, bl, gl, qscale);
        }
        sp_attention_forward(&p->ap, ex->in[0] + r0 * qw, kv->k, kv->v, qscale, ex->pos0 + r0, m, nk,
                             ex->out + r0 * ow, stats);
    }
}

const sp_op_kind sp_op_attention = {
    .name = "attention",
    .min_in = 3,
    .max_in = 4,
    .tokens_input = 0,
    .row_wise = 0,
    .compile = attn_compile,
    .run = attn_run,
    .free_priv = attn_free,
};
