/* graph_emit.c — YAML graph emission and the bookkeeping shared by every mapping: config
 * getters with defaults, tensor lookup with shape checks, and one summary line for every
 * missing, mis-shaped or unmapped tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping_internal.h"

/* ---- string builder ------------------------------------------------------------------------ */

void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if ((size_t)n < room) { b->len += (size_t)n; return; }
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc - b->len <= (size_t)n) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) { b->oom = 1; return; }
        b->s = ns;
        b->cap = nc;
    }
}

void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->len + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void sb_json_string(sbuf *b, const char *s, size_t n) {
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
        else if (c < 0x20) sb_printf(b, "\\u%04x", c);
        else sb_put(b, (const char *)&c, 1);
    }
    sb_put(b, "\"", 1);
}

void sb_free(sbuf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---- YAML scalars ---------------------------------------------------------------------------- */

void ge_scalar_str(sbuf *b, const char *s) {
    static const char *words[] = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"};
    int plain = (*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'));
    for (const char *p = s; *p && plain; p++)
        if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) plain = 0;
    for (size_t i = 0; plain && i < sizeof words / sizeof words[0]; i++)
        if (!strcasecmp(s, words[i])) plain = 0;
    if (plain) {
        sb_printf(b, "%s", s);
        return;
    }
    sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') sb_printf(b, "\\%c", *p);
        else if (*p < 0x20) sb_printf(b, "\\x%02x", *p);
        else sb_printf(b, "%c", *p);
    }
    sb_printf(b, "\"");
}

void ge_scalar_float(sbuf *b, double v) {
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* make it unmistakably a float: 1 -> 1.0, 1e-06 -> 1.0e-06 */
    char *e = strchr(tmp, 'e');
    if (!strchr(tmp, '.') && !strstr(tmp, "inf") && !strstr(tmp, "nan")) {
        char out[72];
        if (e) {
            *e = 0;
            snprintf(out, sizeof out, "%s.0e%s", tmp, e + 1);
        } else
            snprintf(out, sizeof out, "%s.0", tmp);
        sb_printf(b, "%s", out);
        return;
    }
    sb_printf(b, "%s", tmp);
}

void ge_begin(ge *g, const char *op, const char *name, const char *const *in, int nin, const char *out) {
    sb_printf(g->b, "%s{op: %s, name: ", g->indent, op);
    ge_scalar_str(g->b, name);
    sb_printf(g->b, ", in: [");
    for (int i = 0; i < nin; i++) {
        if (i) sb_printf(g->b, ", ");
        ge_scalar_str(g->b, in[i]);
    }
    sb_printf(g->b, "], out: ");
    ge_scalar_str(g->b, out);
}

static void key(ge *g, const char *k) { sb_printf(g->b, ", %s: ", k); }

void ge_str(ge *g, const char *k, const char *v) { key(g, k); ge_scalar_str(g->b, v); }
void ge_int(ge *g, const char *k, long long v) { key(g, k); sb_printf(g->b, "%lld", v); }
void ge_float(ge *g, const char *k, double v) { key(g, k); ge_scalar_float(g->b, v); }
void ge_bool(ge *g, const char *k, int v) { key(g, k); sb_printf(g->b, "%s", v ? "true" : "false"); }

void ge_floats(ge *g, const char *k, const double *v, int n) {
    key(g, k);
    sb_printf(g->b, "[");
    for (int i = 0; i < n; i++) {
        if (i) sb_printf(g->b, ", ");
        ge_scalar_float(g->b, v[i]);
    }
    sb_printf(g->b, "]");
}

void ge_end(ge *g) { sb_printf(g->b, "}\n"); }

/* ---- mapping context ------------------------------------------------------------------------- */

int mc_init(map_ctx *m, const sp_ckpt *c, sp_out_dtype mode, const char *arch, sp_mapping_result *res, sp_error *err) {
    memset(m, 0, sizeof *m);
    m->c = c;
    m->mode = mode;
    m->arch = arch;
    m->res = res;
    m->err = err;
    memset(res, 0, sizeof *res);
    m->used = calloc(c->ntensors ? c->ntensors : 1, 1);
    if (!m->used) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    return 0;
}

void mc_free(map_ctx *m) {
    free(m->used);
    sb_free(&m->missing);
    sb_free(&m->shaped);
    sb_free(&m->unmapped);
}

void mc_detect_prefix(map_ctx *m, const char *probe) {
    size_t pl = strlen(probe), best = SIZE_MAX;
    m->prefix[0] = 0;
    for (size_t i = 0; i < m->c->ntensors; i++) {
        const char *n = m->c->tensors[i].name;
        size_t nl = strlen(n);
        if (nl >= pl && !strcmp(n + nl - pl, probe) && nl - pl < best && nl - pl < sizeof m->prefix &&
            (nl == pl || n[nl - pl - 1] == '.')) {
            best = nl - pl;
            memcpy(m->prefix, n, best);
            m->prefix[best] = 0;
        }
    }
}

static long find_index(const map_ctx *m, const char *name) {
    char full[1024];
    snprintf(full, sizeof full, "%s%s", m->prefix, name);
    for (size_t i = 0; i < m->c->ntensors; i++)
        if (!strcmp(m->c->tensors[i].name, full)) return (long)i;
    return -1;
}

const sp_src_tensor *mc_find(const map_ctx *m, const char *name) {
    long i = find_index(m, name);
    return i < 0 ? NULL : &m->c->tensors[i];
}

int mc_ckpt_has_name(const sp_ckpt *c, const char *part) {
    for (size_t i = 0; i < c->ntensors; i++)
        if (strstr(c->tensors[i].name, part)) return 1;
    return 0;
}

int mc_paper_gemma2_evidence(const sp_ckpt *c) {
    static const char *sparse[] = {"entmax_alpha", "apply_nape", "apply_rotary", "attn_scale_type", "attn_type"};
    for (size_t i = 0; i < sizeof sparse / sizeof sparse[0]; i++)
        if (cfg_has(c->config, sparse[i])) return 2;
    const sp_json *ar = cfg_get(c->config, "architectures");
    if (ar && ar->type == SP_JSON_ARRAY)
        for (size_t i = 0; i < ar->len; i++)
            if (ar->items[i]->type == SP_JSON_STRING && strstr(ar->items[i]->str, "SparseGemma2")) return 2;
    return mc_ckpt_has_name(c, "attn_scale_") || mc_ckpt_has_name(c, "net.model.");
}

static void list_add(sbuf *b, int *count, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void list_add(sbuf *b, int *count, const char *fmt, ...) {
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_printf(b, "%s%s", *count ? ", " : "", tmp);
    (*count)++;
}

static void shape_str(const sp_src_tensor *t, char *out, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(out + o, n - o, "[");
    for (uint32_t i = 0; i < t->ndim && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%llu", i ? "," : "", (unsigned long long)t->shape[i]);
    if (o < n) snprintf(out + o, n - o, "]");
}

static int is_float(sp_dtype d) { return d == SP_F32 || d == SP_F16 || d == SP_BF16 || d == SP_F64; }

static const sp_src_tensor *take(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1, int optional) {
    long i = find_index(m, name);
    if (i < 0) {
        if (!optional) list_add(&m->missing, &m->nmissing, "%s%s", m->prefix, name);
        return NULL;
    }
    const sp_src_tensor *t = &m->c->tensors[i];
    m->used[i] = 1;
    char got[128], want[128];
    shape_str(t, got, sizeof got);
    int ok = !t->placeholder && t->ndim == ndim && (d0 == ANY || (ndim >= 1 && t->shape[0] == d0)) &&
             (d1 == ANY || (ndim >= 2 && t->shape[1] == d1));
    if (ok && !is_float(t->dtype)) {
        list_add(&m->shaped, &m->nshaped, "%s has dtype %s (expected floating point)", t->name, sp_dtype_name(t->dtype));
        return NULL;
    }
    if (!ok) {
        int o = snprintf(want, sizeof want, "[");
        for (uint32_t k = 0; k < ndim && o < (int)sizeof want - 24; k++) {
            uint64_t d = k == 0 ? d0 : k == 1 ? d1 : ANY;
            o += d == ANY ? snprintf(want + o, sizeof want - (size_t)o, "%s*", k ? "," : "")
                          : snprintf(want + o, sizeof want - (size_t)o, "%s%llu", k ? "," : "", (unsigned long long)d);
        }
        snprintf(want + o, sizeof want - (size_t)o, "]");
        if (t->placeholder) list_add(&m->shaped, &m->nshaped, "%s is not a plain tensor", t->name);
        else list_add(&m->shaped, &m->nshaped, "%s is %s, expected %s", t->name, got, want);
        return NULL;
    }
    sp_mapping_result *r = m->res;
    sp_map_tensor *nt = realloc(r->tensors, (r->ntensors + 1) * sizeof *nt);
    if (!nt) {
        m->fatal = 1;
        return NULL;
    }
    r->tensors = nt;
    nt[r->ntensors].name = strdup(name);
    nt[r->ntensors].src = t;
    if (!nt[r->ntensors].name) m->fatal = 1;
    r->ntensors++;
    return t;
}

const sp_src_tensor *mc_take(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1) {
    return take(m, name, ndim, d0, d1, 0);
}

const sp_src_tensor *mc_take_opt(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1) {
    return take(m, name, ndim, d0, d1, 1);
}

void mc_ignore(map_ctx *m, const char *name) {
    long i = find_index(m, name);
    if (i >= 0) m->used[i] = 1;
}

void mc_config_error(map_ctx *m, const char *fmt, ...) {
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    list_add(&m->shaped, &m->nshaped, "%s", tmp);
}

sp_dtype mc_out_dtype(const map_ctx *m, const sp_src_tensor *src) {
    return sp_convert_out_dtype(src->dtype, src->ndim, m->mode);
}

int mc_finish(map_ctx *m, const char *graph_text) {
    (void)graph_text;
    for (size_t i = 0; i < m->c->ntensors; i++) {
        if (m->used[i]) continue;
        const char *n = m->c->tensors[i].name;
        /* buffers that older Hugging Face/torch checkpoints store and nothing needs */
        if (strstr(n, "rotary_emb.inv_freq") || strstr(n, "freqs_cis") || strstr(n, ".masked_bias") ||
            strstr(n, "log_position") || strstr(n, "alibi_bias"))
            continue;
        list_add(&m->unmapped, &m->nunmapped, "%s", n);
    }
    if (m->fatal || m->missing.oom || m->shaped.oom || m->unmapped.oom)
        return sp_fail(m->err, SP_ERR_RUNTIME, "out of memory");
    if (!m->nmissing && !m->nshaped && !m->nunmapped) return 0;
    sbuf b = {0};
    sb_printf(&b, "%s mapping:", m->arch);
    if (m->nshaped) sb_printf(&b, " %d invalid (%s);", m->nshaped, m->shaped.s);
    if (m->nmissing) sb_printf(&b, " %d missing (%s);", m->nmissing, m->missing.s);
    if (m->nunmapped) sb_printf(&b, " %d unmapped (%s);", m->nunmapped, m->unmapped.s);
    if (b.len) b.s[b.len - 1] = 0;
    int total = m->nmissing + m->nshaped + m->nunmapped;
    const char *text = b.s ? b.s : "mapping failed";
    if (strlen(text) > 440) {
        /* one line: the counts stay, the lists are cut */
        sp_fail(m->err, SP_ERR_INPUT, "%.400s ... (%d problems in all: %d invalid, %d missing, %d unmapped)", text,
                total, m->nshaped, m->nmissing, m->nunmapped);
    } else
        sp_fail(m->err, SP_ERR_INPUT, "%s", text);
    sb_free(&b);
    return SP_ERR_INPUT;
}

void mc_emit_layers(map_ctx *m, ge *g, int n,
                    void (*emit)(map_ctx *m, ge *g, const char *li, int i, int take, void *user), void *user) {
    sbuf first = {0}, cur = {0};
    int same = n > 1;
    for (int i = 0; i < n; i++) {
        sbuf *b = i == 0 ? &first : &cur;
        cur.len = 0;
        ge lg = {b, "      - ", 0};
        emit(m, &lg, "{i}", i, 1, user);
        if (i > 0 && (cur.len != first.len || memcmp(cur.s, first.s, cur.len))) same = 0;
    }
    if (same && !first.oom) {
        sb_printf(g->b, "  - repeat: %d\n    var: i\n    nodes:\n", n);
        sb_printf(g->b, "%.*s", (int)first.len, first.s);
    } else {
        for (int i = 0; i < n; i++) {
            char li[16];
            snprintf(li, sizeof li, "%d", i);
            emit(m, g, li, i, 0, user);
        }
    }
    if (first.oom || cur.oom) m->fatal = 1;
    sb_free(&first);
    sb_free(&cur);
}

/* ---- config ---------------------------------------------------------------------------------- */

const sp_json *cfg_get(const sp_json *cfg, const char *k) {
    const sp_json *v = sp_json_get(cfg, k);
    return v && v->type != SP_JSON_NULL ? v : NULL;
}

int cfg_has(const sp_json *cfg, const char *k) { return sp_json_get(cfg, k) != NULL; }

double cfg_num(map_ctx *m, const char *k, double def) {
    const sp_json *v = cfg_get(m->c->config, k);
    if (!v) return def;
    if (v->type != SP_JSON_NUMBER) {
        mc_config_error(m, "config key %s must be a number", k);
        return def;
    }
    return v->number;
}

long long cfg_int(map_ctx *m, const char *k, long long def) {
    const sp_json *v = cfg_get(m->c->config, k);
    if (!v) return def;
    if (v->type != SP_JSON_NUMBER || !v->is_integer) {
        mc_config_error(m, "config key %s must be an integer", k);
        return def;
    }
    return v->integer;
}

int cfg_bool(map_ctx *m, const char *k, int def) {
    const sp_json *v = cfg_get(m->c->config, k);
    if (!v) return def;
    if (v->type != SP_JSON_BOOL) {
        mc_config_error(m, "config key %s must be true or false", k);
        return def;
    }
    return v->boolean;
}

const char *cfg_str(map_ctx *m, const char *k, const char *def) {
    const sp_json *v = cfg_get(m->c->config, k);
    if (!v) return def;
    if (v->type != SP_JSON_STRING) {
        mc_config_error(m, "config key %s must be a string", k);
        return def;
    }
    return v->str;
}

double cfg_rope_theta(map_ctx *m, double def) {
    const sp_json *rp = cfg_get(m->c->config, "rope_parameters");
    if (rp && rp->type == SP_JSON_OBJECT) {
        const sp_json *t = cfg_get(rp, "rope_theta");
        if (t && t->type == SP_JSON_NUMBER) return t->number;
    }
    return cfg_num(m, "rope_theta", def);
}

int cfg_check_rope_scaling(map_ctx *m) {
    static const char *keys[] = {"rope_scaling", "rope_parameters"};
    for (int i = 0; i < 2; i++) {
        const sp_json *rs = cfg_get(m->c->config, keys[i]);
        if (!rs) continue;
        if (rs->type != SP_JSON_OBJECT) {
            mc_config_error(m, "config key %s must be an object", keys[i]);
            return 1;
        }
        const sp_json *t = cfg_get(rs, "rope_type");
        if (!t) t = cfg_get(rs, "type");
        if (t && (t->type != SP_JSON_STRING || strcmp(t->str, "default"))) {
            mc_config_error(m, "RoPE scaling '%s' is not supported (only default RoPE)",
                            t->type == SP_JSON_STRING ? t->str : "?");
            return 1;
        }
        const sp_json *f = cfg_get(rs, "partial_rotary_factor");
        if (f && (f->type != SP_JSON_NUMBER || f->number != 1.0)) {
            mc_config_error(m, "partial_rotary_factor other than 1 is not supported");
            return 1;
        }
    }
    return 0;
}

double gemma_embed_scale(uint64_t hidden, sp_dtype dt) {
    double s = sqrt((double)hidden);
    float f = (float)s;
    if (dt == SP_BF16) return (double)sp_bf16_to_f32(sp_f32_to_bf16(f));
    if (dt == SP_F16) return (double)sp_f16_to_f32(sp_f32_to_f16(f));
    return (double)f;
}

void gemma_layer_common(map_ctx *m, layer_spec *ls, uint64_t hidden, uint64_t ffn,
                        int has_hidden_activation) {
    ls->q = "model.layers.%s.self_attn.q_proj.weight";
    ls->k = "model.layers.%s.self_attn.k_proj.weight";
    ls->v = "model.layers.%s.self_attn.v_proj.weight";
    ls->o = "model.layers.%s.self_attn.o_proj.weight";
    if (cfg_bool(m, "attention_bias", 0)) {
        ls->bq = "model.layers.%s.self_attn.q_proj.bias";
        ls->bk = "model.layers.%s.self_attn.k_proj.bias";
        ls->bv = "model.layers.%s.self_attn.v_proj.bias";
        ls->bo = "model.layers.%s.self_attn.o_proj.bias";
    }
    ls->gate = "model.layers.%s.mlp.gate_proj.weight";
    ls->up = "model.layers.%s.mlp.up_proj.weight";
    ls->down = "model.layers.%s.mlp.down_proj.weight";
    ls->norm_attn = "model.layers.%s.input_layernorm.weight";
    ls->norm_post_attn = "model.layers.%s.post_attention_layernorm.weight";
    ls->norm_ffn = "model.layers.%s.pre_feedforward_layernorm.weight";
    ls->norm_post_ffn = "model.layers.%s.post_feedforward_layernorm.weight";
    ls->hidden = hidden;
    ls->ffn = ffn;
    ls->eps = cfg_num(m, "rms_norm_eps", 1e-6);
    ls->norm_offset = 1.0;
    ls->activation = hf_activation(m, has_hidden_activation ? "hidden_activation" : "hidden_act",
                                   "gelu_pytorch_tanh");
}

/* ---- shared blocks ----------------------------------------------------------------------------- */

void emit_attention_block(ge *g, const char *ln, const char *hin, const char *const w[4],
                          const char *const bias[4], const attn_spec *a) {
    char name[256];
    const char *in1[1] = {hin};
    static const char *qkv[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s.%s", ln, qkv[i]);
        ge_begin(g, "linear", name, in1, 1, qkv[i]);
        ge_str(g, "weight", w[i]);
        if (bias && bias[i]) ge_str(g, "bias", bias[i]);
        ge_end(g);
    }
    if (a->rope_style) {
        for (int i = 0; i < 2; i++) {
            const char *in[1] = {qkv[i]};
            snprintf(name, sizeof name, "%s.rope_%s", ln, qkv[i]);
            ge_begin(g, "rope", name, in, 1, qkv[i]);
            ge_int(g, "head_dim", a->head_dim);
            ge_float(g, "theta", a->rope_theta);
            ge_str(g, "style", a->rope_style);
            ge_end(g);
        }
    }
    int needs_h = a->query_scale && !strcmp(a->query_scale, "asentmax");
    const char *ins[4] = {"q", "k", "v", hin};
    snprintf(name, sizeof name, "%s.attn", ln);
    ge_begin(g, "attention", name, ins, needs_h ? 4 : 3, "a");
    ge_int(g, "heads", a->heads);
    ge_int(g, "kv_heads", a->kv_heads);
    ge_int(g, "head_dim", a->head_dim);
    ge_float(g, "scale", a->scale);
    ge_bool(g, "causal", 1);
    ge_str(g, "normalizer", a->normalizer);
    if (!strcmp(a->normalizer, "entmax")) ge_float(g, "alpha", a->alpha);
    if (!strcmp(a->normalizer, "topk")) {
        ge_int(g, "topk", a->topk);
        if (a->topk_div2) ge_str(g, "topk_rule", "div2");
    }
    if (a->window) ge_int(g, "window", a->window);
    if (a->softcap) ge_float(g, "softcap", a->softcap);
    if (a->slopes) {
        int any = 0;
        for (int h = 0; h < a->heads; h++) any |= a->slopes[h] != 0;
        if (any) ge_floats(g, "alibi_slopes", a->slopes, a->heads);
    }
    if (a->query_scale) {
        ge_str(g, "query_scale", a->query_scale);
        ge_int(g, "scaled_heads", a->scaled_heads);
        ge_int(g, "log_offset", 2);
        if (!strcmp(a->query_scale, "asentmax")) {
            ge_float(g, "scale_delta", a->scale_delta);
            ge_float(g, "gamma_range", a->gamma_range);
            ge_str(g, "beta_weight", a->beta_weight);
            ge_str(g, "gamma_weight", a->gamma_weight);
            if (a->beta_bias) ge_str(g, "beta_bias", a->beta_bias);
            if (a->gamma_bias) ge_str(g, "gamma_bias", a->gamma_bias);
        } else {
            ge_str(g, "beta", a->beta);
            if (!strcmp(a->query_scale, "learn")) {
                ge_float(g, "scale_delta", a->scale_delta);
                ge_str(g, "gamma", a->gamma);
            }
        }
    }
    ge_end(g);
    const char *ina[1] = {"a"};
    snprintf(name, sizeof name, "%s.o", ln);
    ge_begin(g, "linear", name, ina, 1, "a");
    ge_str(g, "weight", w[3]);
    if (bias && bias[3]) ge_str(g, "bias", bias[3]);
    ge_end(g);
}

static void fmt_name(char *out, size_t n, const char *fmt, const char *li) {
    /* formats come from the mappings and hold exactly one %s */
    snprintf(out, n, fmt, li);
}

/* One rmsnorm node of a layer: weight `fmt` (formatted with li in the graph, taken as layer
 * ci when `take`), in -> out. */
static void emit_layer_norm(map_ctx *m, ge *g, const layer_spec *s, const char *fmt, const char *li,
                            const char *ci, int take, const char *node, const char *in, const char *out) {
    char nn[256], tmp[256];
    const char *inputs[1] = {in};
    fmt_name(nn, sizeof nn, fmt, li);
    if (take) {
        fmt_name(tmp, sizeof tmp, fmt, ci);
        mc_take(m, tmp, 1, s->hidden, ANY);
    }
    ge_begin(g, "rmsnorm", node, inputs, 1, out);
    ge_str(g, "weight", nn);
    ge_float(g, "eps", s->eps);
    if (s->norm_offset) ge_float(g, "offset", s->norm_offset);
    ge_end(g);
}

void emit_decoder_layer(map_ctx *m, ge *g, const char *li, int i, int take, void *user) {
    layer_spec *s = user;
    char ci[16], ln[64];
    snprintf(ci, sizeof ci, "%d", i);
    snprintf(ln, sizeof ln, "layers.%s", li);
    const attn_spec *a = &s->attn;
    uint64_t D = s->hidden, qd = (uint64_t)a->heads * (uint64_t)a->head_dim,
             kd = (uint64_t)a->kv_heads * (uint64_t)a->head_dim;
    const char *wf[4] = {s->q, s->k, s->v, s->o}, *bf[4] = {s->bq, s->bk, s->bv, s->bo};
    const uint64_t rows[4] = {qd, kd, kd, D}, cols[4] = {D, D, D, qd};
    char wn[4][256], bn[4][256], tmp[256];
    const char *w[4], *b[4];
    for (int k = 0; k < 4; k++) {
        fmt_name(wn[k], sizeof wn[k], wf[k], li);
        w[k] = wn[k];
        b[k] = NULL;
        if (take) {
            fmt_name(tmp, sizeof tmp, wf[k], ci);
            mc_take(m, tmp, 2, rows[k], cols[k]);
        }
        if (bf[k]) {
            fmt_name(bn[k], sizeof bn[k], bf[k], li);
            b[k] = bn[k];
            if (take) {
                fmt_name(tmp, sizeof tmp, bf[k], ci);
                mc_take(m, tmp, 1, rows[k], ANY);
            }
        }
    }
    attn_spec la = *a;
    if (s->window_of) la.window = s->window_of(i, s->window_user);
    char qs[6][256];
    const char *qf[6] = {s->qs_beta_w, s->qs_beta_b, s->qs_gamma_w, s->qs_gamma_b, s->qs_beta, s->qs_gamma};
    const char **qdst[6] = {&la.beta_weight, &la.beta_bias, &la.gamma_weight, &la.gamma_bias, &la.beta, &la.gamma};
    uint64_t Hs = (uint64_t)a->scaled_heads;
    for (int k = 0; k < 6; k++) {
        *qdst[k] = NULL;
        if (!qf[k]) continue;
        fmt_name(qs[k], sizeof qs[k], qf[k], li);
        *qdst[k] = qs[k];
        if (!take) continue;
        fmt_name(tmp, sizeof tmp, qf[k], ci);
        if (k == 0 || k == 2) mc_take(m, tmp, 2, Hs, D);
        else if (k == 1 || k == 3) mc_take(m, tmp, 1, Hs, ANY);
        else mc_take(m, tmp, 4, 1, Hs);
    }
    const char *h[1] = {"h"};
    char node[128];
    snprintf(node, sizeof node, "%s.%s", ln, s->norm_post_attn ? "input_norm" : "attn_norm");
    emit_layer_norm(m, g, s, s->norm_attn, li, ci, take, node, "x", "h");
    emit_attention_block(g, ln, "h", w, b, &la);
    const char *xa[2] = {"x", "a"}, *xm[2] = {"x", "m"};
    if (s->norm_post_attn) {
        snprintf(node, sizeof node, "%s.post_attn_norm", ln);
        emit_layer_norm(m, g, s, s->norm_post_attn, li, ci, take, node, "a", "a");
    }
    snprintf(node, sizeof node, "%s.attn_residual", ln);
    ge_begin(g, "add", node, xa, 2, "x");
    ge_end(g);
    snprintf(node, sizeof node, "%s.%s", ln, s->norm_post_attn ? "pre_ffn_norm" : "ffn_norm");
    emit_layer_norm(m, g, s, s->norm_ffn, li, ci, take, node, "x", "h");
    char gn[256], un[256], dn[256], gb[256], ub[256], db[256];
    fmt_name(gn, sizeof gn, s->gate, li);
    fmt_name(un, sizeof un, s->up, li);
    fmt_name(dn, sizeof dn, s->down, li);
    if (take) {
        fmt_name(tmp, sizeof tmp, s->gate, ci);
        mc_take(m, tmp, 2, s->ffn, D);
        fmt_name(tmp, sizeof tmp, s->up, ci);
        mc_take(m, tmp, 2, s->ffn, D);
        fmt_name(tmp, sizeof tmp, s->down, ci);
        mc_take(m, tmp, 2, D, s->ffn);
        if (s->gate_b) { fmt_name(tmp, sizeof tmp, s->gate_b, ci); mc_take(m, tmp, 1, s->ffn, ANY); }
        if (s->up_b) { fmt_name(tmp, sizeof tmp, s->up_b, ci); mc_take(m, tmp, 1, s->ffn, ANY); }
        if (s->down_b) { fmt_name(tmp, sizeof tmp, s->down_b, ci); mc_take(m, tmp, 1, D, ANY); }
    }
    snprintf(node, sizeof node, "%s.mlp", ln);
    ge_begin(g, "mlp", node, h, 1, "m");
    ge_str(g, "activation", s->activation);
    ge_bool(g, "gated", 1);
    ge_str(g, "gate", gn);
    ge_str(g, "up", un);
    ge_str(g, "down", dn);
    if (s->gate_b) { fmt_name(gb, sizeof gb, s->gate_b, li); ge_str(g, "gate_bias", gb); }
    if (s->up_b) { fmt_name(ub, sizeof ub, s->up_b, li); ge_str(g, "up_bias", ub); }
    if (s->down_b) { fmt_name(db, sizeof db, s->down_b, li); ge_str(g, "down_bias", db); }
    ge_end(g);
    if (s->norm_post_ffn) {
        snprintf(node, sizeof node, "%s.post_ffn_norm", ln);
        emit_layer_norm(m, g, s, s->norm_post_ffn, li, ci, take, node, "m", "m");
    }
    snprintf(node, sizeof node, "%s.ffn_residual", ln);
    ge_begin(g, "add", node, xm, 2, "x");
    ge_end(g);
}

int emit_graph(map_ctx *m, const char *name, uint64_t vocab, const char *embed, double embed_scale,
               int nlayers, layer_spec *ls, const char *final_norm, double final_offset,
               const char *head, double final_softcap) {
    sbuf b = {0};
    ge g = {&b, "  - ", 0};
    sb_printf(&b, "sparsa_graph: 1\nname: ");
    ge_scalar_str(&b, name);
    sb_printf(&b, "\nvocab_size: %llu\ncontext_length: 0\ninputs: [tokens]\noutputs: [logits]\nnodes:\n",
              (unsigned long long)vocab);
    const char *tok[1] = {"tokens"}, *x[1] = {"x"}, *lg[1] = {"logits"};
    mc_take(m, embed, 2, vocab, ls->hidden);
    ge_begin(&g, "embed", "embed", tok, 1, "x");
    ge_str(&g, "weight", embed);
    if (embed_scale) ge_float(&g, "scale", embed_scale);
    ge_end(&g);
    mc_emit_layers(m, &g, nlayers, emit_decoder_layer, ls);
    mc_take(m, final_norm, 1, ls->hidden, ANY);
    ge_begin(&g, "rmsnorm", "final_norm", x, 1, "x");
    ge_str(&g, "weight", final_norm);
    ge_float(&g, "eps", ls->eps);
    if (final_offset) ge_float(&g, "offset", final_offset);
    ge_end(&g);
    if (strcmp(head, embed)) mc_take(m, head, 2, vocab, ls->hidden);
    ge_begin(&g, "linear", "lm_head", x, 1, "logits");
    ge_str(&g, "weight", head);
    ge_end(&g);
    if (final_softcap) {
        ge_begin(&g, "softcap", "final_softcap", lg, 1, "logits");
        ge_float(&g, "cap", final_softcap);
        ge_end(&g);
    }
    if (b.oom) {
        sb_free(&b);
        m->fatal = 1;
        return mc_finish(m, NULL);
    }
    int rc = mc_finish(m, b.s);
    if (rc) {
        sb_free(&b);
        return rc;
    }
    m->res->graph = b.s;
    m->res->graph_len = b.len;
    m->res->model_name = strdup(name);
    return 0;
}
