/* graph_emit.c — graph text for the mappings (graph_emit.h): YAML scalars, node lines and the
 * attention block. Floats are written with the fewest digits that read back to the same double,
 * so the graph states exactly the values the mapping computed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graph_emit.h"

/* ---- YAML scalars ---------------------------------------------------------------------------- */

void ge_scalar_str(sp_strbuf *b, const char *s) {
    static const char *words[] = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"};
    int plain = (*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'));
    for (const char *p = s; *p && plain; p++)
        if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) plain = 0;
    for (size_t i = 0; plain && i < sizeof words / sizeof words[0]; i++)
        if (!strcasecmp(s, words[i])) plain = 0;
    if (plain) {
        sp_sb_puts(b, s);
        return;
    }
    sp_sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') sp_sb_printf(b, "\\%c", *p);
        else if (*p < 0x20) sp_sb_printf(b, "\\x%02x", *p);
        else sp_sb_put(b, (const char *)p, 1);
    }
    sp_sb_puts(b, "\"");
}

void ge_scalar_float(sp_strbuf *b, double v) {
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* make it unmistakably a float: 1 -> 1.0, 1e-06 -> 1.0e-06 */
    char *e = strchr(tmp, 'e');
    if (!strchr(tmp, '.') && !strstr(tmp, "inf") && !strstr(tmp, "nan")) {
        if (e) {
            *e = 0;
            sp_sb_printf(b, "%s.0e%s", tmp, e + 1);
        } else
            sp_sb_printf(b, "%s.0", tmp);
        return;
    }
    sp_sb_puts(b, tmp);
}

/* ---- nodes ------------------------------------------------------------------------------------- */

void ge_begin(graph_emitter *g, const char *op, const char *name, const char *const *in, int nin, const char *out) {
    sp_sb_printf(g->b, "%s{op: %s, name: ", g->indent, op);
    ge_scalar_str(g->b, name);
    sp_sb_puts(g->b, ", in: [");
    for (int i = 0; i < nin; i++) {
        if (i) sp_sb_puts(g->b, ", ");
        ge_scalar_str(g->b, in[i]);
    }
    sp_sb_puts(g->b, "], out: ");
    ge_scalar_str(g->b, out);
}

static void key(graph_emitter *g, const char *k) { sp_sb_printf(g->b, ", %s: ", k); }

void ge_str(graph_emitter *g, const char *k, const char *v) { key(g, k); ge_scalar_str(g->b, v); }
void ge_int(graph_emitter *g, const char *k, long long v) { key(g, k); sp_sb_printf(g->b, "%lld", v); }
void ge_float(graph_emitter *g, const char *k, double v) { key(g, k); ge_scalar_float(g->b, v); }
void ge_bool(graph_emitter *g, const char *k, int v) { key(g, k); sp_sb_puts(g->b, v ? "true" : "false"); }

void ge_floats(graph_emitter *g, const char *k, const double *v, int n) {
    key(g, k);
    sp_sb_puts(g->b, "[");
    for (int i = 0; i < n; i++) {
        if (i) sp_sb_puts(g->b, ", ");
        ge_scalar_float(g->b, v[i]);
    }
    sp_sb_puts(g->b, "]");
}

void ge_end(graph_emitter *g) { sp_sb_puts(g->b, "}\n"); }

/* ---- the attention block ------------------------------------------------------------------------ */

/* Query scaling by length (ASEntmax's β/γ projections, SSMax's s_h, learned β/γ). */
static void emit_query_scale(graph_emitter *g, const attn_spec *a) {
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

static void emit_attention_node(graph_emitter *g, const char *ln, const char *hin, const attn_spec *a) {
    char name[256];
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
    if (a->query_scale) emit_query_scale(g, a);
    ge_end(g);
}

void emit_attention_block(graph_emitter *g, const char *ln, const char *hin, const char *const w[4],
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
    emit_attention_node(g, ln, hin, a);
    const char *ina[1] = {"a"};
    snprintf(name, sizeof name, "%s.o", ln);
    ge_begin(g, "linear", name, ina, 1, "a");
    ge_str(g, "weight", w[3]);
    if (bias && bias[3]) ge_str(g, "bias", bias[3]);
    ge_end(g);
}
