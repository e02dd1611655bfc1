/* ops_attention.c — the `attention` op's glue (format/GRAPH.md, "The attention op"): q, k, v
 * come from earlier nodes (projections and RoPE are ordinary ops). Compiling reads the node in
 * steps: geometry (heads, dims, mask, soft cap, ALiBi slopes), the normaliser (through the
 * table of normalizers.h), the query scale and its tensors. Running appends k, v to the
 * layer's KV cache, computes the per-row query scale factors
 * (docs/ATTENTION_MATH.md#query-scaling), then runs sp_attention_forward over every cached
 * key, once for the whole call (attn_run says why). Each query row is computed independently,
 * so how the rows are grouped changes no number. */
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "gemm.h"
#include "interp_internal.h"
#include "normalizers.h"

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

static int clamp_int(long long v) { return (int)(v > 0x7fffffff ? 0x7fffffff : v); }

/* Heads, dimensions, scale, mask, soft cap and ALiBi slopes
 * (docs/ATTENTION_MATH.md#scores, #alibi-and-nape). */
static int parse_geometry(sp_compile_ctx *cc, attn_priv *p, sp_error *err) {
    sp_attn_params *ap = &p->ap;
    long long heads = 0, kvh = 0, d = 0, dv = 0, window = 0;
    double scale = 0, softcap = 0;
    int causal = 1, has_slopes;
    size_t n_slopes = 0;
    TRY(sp_attr_int(cc, "heads", 1, 1, 1 << 16, &heads, err));
    TRY(sp_attr_int(cc, "kv_heads", 1, 1, 1 << 16, &kvh, err));
    TRY(sp_attr_int(cc, "head_dim", 1, 1, 1 << 16, &d, err));
    dv = d;
    TRY(sp_attr_int(cc, "value_dim", 0, 1, 1 << 16, &dv, err));
    TRY(sp_attr_float(cc, "scale", 1, &scale, err));
    TRY(sp_attr_bool(cc, "causal", 0, &causal, err));
    TRY(sp_attr_int(cc, "window", 0, 0, (long long)1 << 40, &window, err));
    TRY(sp_attr_float(cc, "softcap", 0, &softcap, err));
    TRY(has_slopes = sp_attr_floats(cc, "alibi_slopes", 0, &p->slopes, &n_slopes, err));
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
    ap->window = clamp_int(window);
    ap->softcap = (float)softcap;
    ap->alibi_slopes = p->slopes;
    return SP_OK;
}

/* "normalizer must be softmax, entmax, … or topk (got 'x')", listing the table's rows. */
static int unknown_normalizer(sp_compile_ctx *cc, const char *name, sp_error *err) {
    sp_strbuf list = {0};
    for (size_t i = 0; sp_norm_at(i); i++) {
        const char *sep = i == 0 ? "" : sp_norm_at(i + 1) ? ", " : " or ";
        sp_sb_printf(&list, "%s%s", sep, sp_norm_at(i)->name);
    }
    int rc = sp_compile_fail(cc, err, "normalizer must be %s (got '%s')",
                             list.s && !list.oom ? list.s : "one of the table's", name);
    sp_sb_free(&list);
    return rc;
}

static int lists_attr(const sp_norm_kind *k, const char *key) {
    for (size_t a = 0; k->attrs && k->attrs[a]; a++)
        if (!strcmp(k->attrs[a], key)) return 1;
    return 0;
}

/* An attribute that belongs to another normaliser is refused by name (not as unknown). */
static int refuse_foreign_attrs(sp_compile_ctx *cc, const sp_norm_kind *mine, sp_error *err) {
    for (size_t i = 0; sp_norm_at(i); i++) {
        const sp_norm_kind *k = sp_norm_at(i);
        for (size_t a = 0; k != mine && k->attrs && k->attrs[a]; a++)
            if (sp_attr_has(cc, k->attrs[a]) && !lists_attr(mine, k->attrs[a]))
                return sp_compile_fail(cc, err, "attribute '%s' applies to normalizer %s only",
                                       k->attrs[a], k->name);
    }
    return SP_OK;
}

/* The normaliser: a row of the table, then its own attributes. */
static int parse_normalizer(sp_compile_ctx *cc, sp_attn_params *ap, sp_error *err) {
    const char *name = NULL;
    TRY(sp_attr_string(cc, "normalizer", 1, &name, err));
    ap->norm = sp_norm_find(name);
    if (!ap->norm) return unknown_normalizer(cc, name, err);
    int rc = refuse_foreign_attrs(cc, ap->norm, err);
    if (rc || !ap->norm->parse) return rc;
    const sp_norm_attrs attrs = {.cc = cc,
                                 .read_float = sp_attr_float,
                                 .read_int = sp_attr_int,
                                 .read_string = sp_attr_string,
                                 .fail = sp_compile_fail};
    return ap->norm->parse(&attrs, ap, err);
}

/* Query scalings (docs/ATTENTION_MATH.md#query-scaling): the graph name, the kind, and whether
 * the op reads a 4th input h (the β/γ projections' input). */
static const struct {
    const char *name;
    sp_qscale_kind kind;
    int reads_h;
} qscale_kinds[] = {
    {.name = "none", .kind = SP_QSCALE_NONE},
    {.name = "asentmax", .kind = SP_QSCALE_ASENTMAX, .reads_h = 1},
    {.name = "ssmax", .kind = SP_QSCALE_SSMAX},
    {.name = "learn", .kind = SP_QSCALE_LEARN},
};

/* Attributes that only mean something with a query scale. */
static const char *const qscale_attrs[] = {"scaled_heads", "scale_delta", "gamma_range",
                                           "log_offset", "beta_weight", "beta_bias",
                                           "gamma_weight", "gamma_bias", "beta", "gamma"};

static int parse_qscale_kind(sp_compile_ctx *cc, sp_qscale_params *qp, int *reads_h,
                             sp_error *err) {
    const char *qs = "none";
    TRY(sp_attr_string(cc, "query_scale", 0, &qs, err));
    for (size_t i = 0; i < sizeof qscale_kinds / sizeof qscale_kinds[0]; i++)
        if (!strcmp(qs, qscale_kinds[i].name)) {
            qp->kind = qscale_kinds[i].kind;
            *reads_h = qscale_kinds[i].reads_h;
            return SP_OK;
        }
    return sp_compile_fail(cc, err, "query_scale must be none, asentmax, ssmax or learn (got '%s')", qs);
}

/* q, k, v (and h) against the geometry. */
static int check_inputs(sp_compile_ctx *cc, const sp_attn_params *ap, int reads_h, sp_error *err) {
    const size_t want_in = reads_h ? 4 : 3;
    const long long h = ap->heads, kvh = ap->kv_heads, d = ap->head_dim, dv = ap->value_dim;
    if (cc->n_in != want_in)
        return sp_compile_fail(cc, err, "takes %zu inputs (q, k, v%s), got %zu", want_in,
                               want_in == 4 ? ", h" : "", cc->n_in);
    if (cc->in_width[0] != (size_t)(h * d))
        return sp_compile_fail(cc, err, "q '%s' has width %zu, heads·head_dim = %lld", cc->gn->in[0],
                               cc->in_width[0], h * d);
    if (cc->in_width[1] != (size_t)(kvh * d))
        return sp_compile_fail(cc, err, "k '%s' has width %zu, kv_heads·head_dim = %lld", cc->gn->in[1],
                               cc->in_width[1], kvh * d);
    if (cc->in_width[2] != (size_t)(kvh * dv))
        return sp_compile_fail(cc, err, "v '%s' has width %zu, kv_heads·value_dim = %lld", cc->gn->in[2],
                               cc->in_width[2], kvh * dv);
    return SP_OK;
}

/* The scale's tensors: the β/γ projections of h (asentmax) or per-head constants. */
static int bind_qscale_tensors(sp_compile_ctx *cc, sp_op *op, attn_priv *p, sp_error *err) {
    const sp_qscale_params *qp = &p->qp;
    const uint64_t hs = (uint64_t)qp->scaled_heads;
    if (qp->kind == SP_QSCALE_ASENTMAX) {
        uint64_t want[2] = {hs, cc->in_width[3]};
        TRY(sp_attr_tensor(cc, "beta_weight", 1, 2, want, &p->beta_w, err));
        TRY(sp_attr_tensor(cc, "gamma_weight", 1, 2, want, &p->gamma_w, err));
        TRY(sp_attr_tensor_f32(cc, "beta_bias", 0, 1, hs, &p->beta_b, err));
        TRY(sp_attr_tensor_f32(cc, "gamma_bias", 0, 1, hs, &p->gamma_b, err));
        op->scratch_per_row = (size_t)qp->heads + 2 * (size_t)hs;
        return SP_OK;
    }
    TRY(sp_attr_tensor_f32(cc, "beta", 1, 0, hs, &p->beta, err));
    if (qp->kind == SP_QSCALE_LEARN) TRY(sp_attr_tensor_f32(cc, "gamma", 1, 0, hs, &p->gamma, err));
    op->scratch_per_row = (size_t)qp->heads;
    return SP_OK;
}

/* Which heads are scaled and how (δ, a, ℓ's offset), then the tensors. */
static int parse_qscale(sp_compile_ctx *cc, sp_op *op, attn_priv *p, sp_error *err) {
    sp_qscale_params *qp = &p->qp;
    if (qp->kind == SP_QSCALE_NONE) {
        for (size_t i = 0; i < sizeof qscale_attrs / sizeof qscale_attrs[0]; i++)
            if (sp_attr_has(cc, qscale_attrs[i]))
                return sp_compile_fail(cc, err, "attribute '%s' needs a query_scale", qscale_attrs[i]);
        return SP_OK;
    }
    long long hs = 0, logoff = 2;
    double delta = 1, grange = 2;
    int has_hs;
    TRY(has_hs = sp_attr_int(cc, "scaled_heads", 0, 0, (long long)1 << 16, &hs, err));
    TRY(sp_attr_float(cc, "scale_delta", 0, &delta, err));
    TRY(sp_attr_float(cc, "gamma_range", 0, &grange, err));
    TRY(sp_attr_int(cc, "log_offset", 0, 1, 1 << 30, &logoff, err));
    if (!has_hs) return sp_compile_fail(cc, err, "missing attribute 'scaled_heads'");
    if (hs > p->ap.heads)
        return sp_compile_fail(cc, err, "scaled_heads %lld > heads %d", hs, p->ap.heads);
    qp->heads = p->ap.heads;
    qp->scaled_heads = (int)hs;
    qp->delta = (float)delta;
    qp->gamma_range = (float)grange;
    qp->log_offset = (int)logoff;
    int rc = bind_qscale_tensors(cc, op, p, err);
    qp->beta = p->beta;
    qp->gamma = p->gamma;
    return rc;
}

static int attn_compile(sp_compile_ctx *cc, sp_op *op, sp_error *err) {
    attn_priv *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    op->priv = p;
    int reads_h = 0;
    int rc = parse_geometry(cc, p, err);
    if (!rc) rc = parse_normalizer(cc, &p->ap, err);
    if (!rc) rc = parse_qscale_kind(cc, &p->qp, &reads_h, err);
    if (!rc) rc = check_inputs(cc, &p->ap, reads_h, err);
    if (!rc) rc = parse_qscale(cc, op, p, err);
    if (!rc) op->out_width = (size_t)p->ap.heads * (size_t)p->ap.value_dim;
    return rc;
}

/* Query scale factors of the call's rows [r0, r0 + m) into qscale ([m][heads]); the β/γ
 * projections of h go through the per-row scratch, which holds chunk rows. */
static void qscale_rows(const sp_op *op, const sp_exec *ex, size_t r0, size_t m, size_t chunk,
                        float *qscale) {
    const attn_priv *p = op->priv;
    const size_t hs = (size_t)p->qp.scaled_heads;
    float *bl = NULL, *gl = NULL;
    if (p->qp.kind == SP_QSCALE_ASENTMAX) {
        bl = ex->scratch + chunk * (size_t)p->ap.heads;
        gl = bl + chunk * hs;
        const float *h = ex->in[3] + r0 * op->in_width[3];
        if (hs) {
            sp_gemm_wt(h, m, op->in_width[3], p->beta_w.data, p->beta_w.dtype, hs, p->beta_b, bl);
            sp_gemm_wt(h, m, op->in_width[3], p->gamma_w.data, p->gamma_w.dtype, hs, p->gamma_b, gl);
        }
    }
    sp_query_scale(&p->qp, ex->pos0 + r0, m, bl, gl, qscale);
}

/* With a query scale, the factors of every row are computed first (chunk by chunk through the
 * scratch) into one [n][heads] buffer, so that attention runs once over the whole call: run in
 * chunks of rows, it would recompute the key tiles' bounds, re-pack every key/value head and
 * wake the threads once per chunk, O(n²/chunk) of extra work at long windows. Each query row
 * is computed alone either way, so the numbers are the same. Without the memory for that
 * buffer, attention runs chunk by chunk on the scratch. */
static void attn_run(const sp_op *op, sp_exec *ex) {
    const attn_priv *p = op->priv;
    sp_session *s = ex->s;
    sp_kv_layer *kv = &s->kv[op->layer];
    memcpy(kv->k + ex->pos0 * kv->k_width, ex->in[1], ex->n * kv->k_width * sizeof(float));
    memcpy(kv->v + ex->pos0 * kv->v_width, ex->in[2], ex->n * kv->v_width * sizeof(float));
    const size_t nk = ex->pos0 + ex->n, qw = op->in_width[0], ow = op->out_width;
    const size_t H = (size_t)p->ap.heads;
    sp_attn_stats *stats = s->stats_on ? s->stats[op->layer] : NULL;
    if (p->qp.kind == SP_QSCALE_NONE) {
        sp_attention_forward(&p->ap, ex->in[0], kv->k, kv->v, NULL, ex->pos0, ex->n, nk, ex->out,
                             stats);
        return;
    }
    const size_t chunk = ex->scratch_rows;
    float *whole = ex->n > chunk ? malloc(ex->n * H * sizeof(float)) : NULL;
    if (whole || ex->n <= chunk) {
        float *qscale = whole ? whole : ex->scratch;
        for (size_t r0 = 0; r0 < ex->n; r0 += chunk)
            qscale_rows(op, ex, r0, ex->n - r0 < chunk ? ex->n - r0 : chunk, chunk,
                        qscale + r0 * H);
        sp_attention_forward(&p->ap, ex->in[0], kv->k, kv->v, qscale, ex->pos0, ex->n, nk,
                             ex->out, stats);
        free(whole);
        return;
    }
    for (size_t r0 = 0; r0 < ex->n; r0 += chunk) {
        const size_t m = ex->n - r0 < chunk ? ex->n - r0 : chunk;
        qscale_rows(op, ex, r0, m, chunk, ex->scratch);
        sp_attention_forward(&p->ap, ex->in[0] + r0 * qw, kv->k, kv->v, ex->scratch,
                             ex->pos0 + r0, m, nk, ex->out + r0 * ow, stats);
    }
}

/* The op as the backend seam describes it (sparsa_backend.h); sp_qscale_kind and
 * sp_bk_qscale list the scalings in the same order. */
static void attn_lower(const sp_op *op, sp_bk_op *b) {
    const attn_priv *p = op->priv;
    const sp_attn_params *ap = &p->ap;
    sp_bk_attention *a = &b->u.attn;
    a->heads = ap->heads;
    a->kv_heads = ap->kv_heads;
    a->head_dim = ap->head_dim;
    a->value_dim = ap->value_dim;
    a->scale = ap->scale;
    a->causal = ap->causal;
    a->window = ap->window;
    a->softcap = ap->softcap;
    a->normalizer = ap->norm->name;
    a->before_query = ap->norm->before_query;
    a->alpha = ap->alpha;
    a->topk = ap->topk;
    a->topk_div2 = ap->topk_div2;
    a->alibi_slopes = ap->alibi_slopes;
    a->qscale = (sp_bk_qscale)p->qp.kind;
    a->scaled_heads = p->qp.scaled_heads;
    a->delta = p->qp.delta;
    a->gamma_range = p->qp.gamma_range;
    a->log_offset = p->qp.log_offset;
    a->beta = p->beta;
    a->gamma = p->gamma;
    if (p->qp.kind == SP_QSCALE_ASENTMAX) {
        a->beta_w = sp_bk_weight(&p->beta_w);
        a->gamma_w = sp_bk_weight(&p->gamma_w);
    }
    a->beta_b = p->beta_b;
    a->gamma_b = p->gamma_b;
}

const sp_op_kind sp_op_attention = {
    .name = "attention",
    .min_in = 3,
    .max_in = 4,
    .row_wise = 0,
    .compile = attn_compile,
    .run = attn_run,
    .lower = attn_lower,
    .bk_kind = SP_BK_ATTENTION,
    .free_priv = attn_free,
};
