/* mapping_blocks.c — the decoder-layer graph shared by the mappings (mapping_blocks.h). A layer
 * is written twice over: with "{i}" for the repeat block (taking each layer's tensors), and,
 * only when some layer differs (Gemma-2's sliding window), once per layer. The order tensors are
 * taken in is the order they are written to the model file. */
#include <stdio.h>
#include <string.h>

#include "mapping_blocks.h"

/* One layer being written. */
typedef struct {
    map_ctx *m;
    graph_emitter *g;
    const layer_spec *s;
    const char *li;   /* index in the graph text */
    char ci[16];      /* the layer's number, for source tensor names */
    int take;         /* take the source tensors */
    char ln[64];      /* node name prefix "layers.<li>" */
} layer_ctx;

/* fmt (a mapping's name format, exactly one %s) with the graph index. */
static void graph_name(const layer_ctx *l, const char *fmt, char *out, size_t n) { snprintf(out, n, fmt, l->li); }

/* Takes fmt with the layer's number when this pass takes tensors. */
static void take_fmt(const layer_ctx *l, const char *fmt, uint32_t ndim, uint64_t d0, uint64_t d1) {
    if (!l->take) return;
    char tmp[256];
    snprintf(tmp, sizeof tmp, fmt, l->ci);
    mc_take(l->m, tmp, ndim, d0, d1);
}

/* One rmsnorm node of a layer: weight `fmt`, in -> out. */
static void emit_layer_norm(const layer_ctx *l, const char *fmt, const char *node, const char *in, const char *out) {
    char nn[256], full[128];
    const char *inputs[1] = {in};
    graph_name(l, fmt, nn, sizeof nn);
    take_fmt(l, fmt, 1, l->s->hidden, MC_ANY);
    snprintf(full, sizeof full, "%s.%s", l->ln, node);
    ge_begin(l->g, "rmsnorm", full, inputs, 1, out);
    ge_str(l->g, "weight", nn);
    ge_float(l->g, "eps", l->s->eps);
    if (l->s->norm_offset) ge_float(l->g, "offset", l->s->norm_offset);
    ge_end(l->g);
}

/* The q/k/v/o weights and biases: graph names into wn/bn, taken weight then bias. */
static void attention_weights(const layer_ctx *l, char wn[4][256], char bn[4][256], const char *w[4], const char *b[4]) {
    const layer_spec *s = l->s;
    const attn_spec *a = &s->attn;
    uint64_t D = s->hidden, qd = (uint64_t)a->heads * (uint64_t)a->head_dim,
             kd = (uint64_t)a->kv_heads * (uint64_t)a->head_dim;
    const char *wf[4] = {s->q, s->k, s->v, s->o}, *bf[4] = {s->bq, s->bk, s->bv, s->bo};
    const uint64_t rows[4] = {qd, kd, kd, D}, cols[4] = {D, D, D, qd};
    for (int k = 0; k < 4; k++) {
        graph_name(l, wf[k], wn[k], sizeof wn[k]);
        w[k] = wn[k];
        b[k] = NULL;
        take_fmt(l, wf[k], 2, rows[k], cols[k]);
        if (bf[k]) {
            graph_name(l, bf[k], bn[k], sizeof bn[k]);
            b[k] = bn[k];
            take_fmt(l, bf[k], 1, rows[k], MC_ANY);
        }
    }
}

/* The query-scale tensors of the layer's attention (β/γ projections, or β and γ). */
static void query_scale_tensors(const layer_ctx *l, attn_spec *la, char qs[6][256]) {
    const layer_spec *s = l->s;
    const char *qf[6] = {s->qs_beta_w, s->qs_beta_b, s->qs_gamma_w, s->qs_gamma_b, s->qs_beta, s->qs_gamma};
    const char **qdst[6] = {&la->beta_weight, &la->beta_bias, &la->gamma_weight, &la->gamma_bias, &la->beta, &la->gamma};
    uint64_t Hs = (uint64_t)s->attn.scaled_heads;
    for (int k = 0; k < 6; k++) {
        *qdst[k] = NULL;
        if (!qf[k]) continue;
        graph_name(l, qf[k], qs[k], sizeof qs[k]);
        *qdst[k] = qs[k];
        if (k == 0 || k == 2) take_fmt(l, qf[k], 2, Hs, s->hidden);
        else if (k == 1 || k == 3) take_fmt(l, qf[k], 1, Hs, MC_ANY);
        else take_fmt(l, qf[k], 4, 1, Hs);
    }
}

/* The gated MLP: h -> m. */
static void emit_mlp(const layer_ctx *l) {
    const layer_spec *s = l->s;
    uint64_t D = s->hidden;
    take_fmt(l, s->gate, 2, s->ffn, D);
    take_fmt(l, s->up, 2, s->ffn, D);
    take_fmt(l, s->down, 2, D, s->ffn);
    if (s->gate_b) take_fmt(l, s->gate_b, 1, s->ffn, MC_ANY);
    if (s->up_b) take_fmt(l, s->up_b, 1, s->ffn, MC_ANY);
    if (s->down_b) take_fmt(l, s->down_b, 1, D, MC_ANY);
    char node[128], name[256];
    const char *h[1] = {"h"};
    snprintf(node, sizeof node, "%s.mlp", l->ln);
    ge_begin(l->g, "mlp", node, h, 1, "m");
    ge_str(l->g, "activation", s->activation);
    ge_bool(l->g, "gated", 1);
    static const char *keys[3] = {"gate", "up", "down"}, *bias_keys[3] = {"gate_bias", "up_bias", "down_bias"};
    const char *fmts[3] = {s->gate, s->up, s->down}, *bias_fmts[3] = {s->gate_b, s->up_b, s->down_b};
    for (int k = 0; k < 3; k++) {
        graph_name(l, fmts[k], name, sizeof name);
        ge_str(l->g, keys[k], name);
    }
    for (int k = 0; k < 3; k++) {
        if (!bias_fmts[k]) continue;
        graph_name(l, bias_fmts[k], name, sizeof name);
        ge_str(l->g, bias_keys[k], name);
    }
    ge_end(l->g);
}

static void emit_residual(const layer_ctx *l, const char *node, const char *value) {
    char full[128];
    const char *in[2] = {"x", value};
    snprintf(full, sizeof full, "%s.%s", l->ln, node);
    ge_begin(l->g, "add", full, in, 2, "x");
    ge_end(l->g);
}

void emit_decoder_layer(map_ctx *m, graph_emitter *g, const char *li, int i, int take, void *user) {
    const layer_spec *s = user;
    layer_ctx l = {.m = m, .g = g, .s = s, .li = li, .take = take};
    snprintf(l.ci, sizeof l.ci, "%d", i);
    snprintf(l.ln, sizeof l.ln, "layers.%s", li);
    char wn[4][256], bn[4][256], qs[6][256];
    const char *w[4], *b[4];
    attention_weights(&l, wn, bn, w, b);
    attn_spec la = s->attn;
    if (s->window_of) la.window = s->window_of(i, s->window_user);
    query_scale_tensors(&l, &la, qs);
    int post = s->norm_post_attn != NULL;
    emit_layer_norm(&l, s->norm_attn, post ? "input_norm" : "attn_norm", "x", "h");
    emit_attention_block(g, l.ln, "h", w, b, &la);
    if (post) emit_layer_norm(&l, s->norm_post_attn, "post_attn_norm", "a", "a");
    emit_residual(&l, "attn_residual", "a");
    emit_layer_norm(&l, s->norm_ffn, post ? "pre_ffn_norm" : "ffn_norm", "x", "h");
    emit_mlp(&l);
    if (s->norm_post_ffn) emit_layer_norm(&l, s->norm_post_ffn, "post_ffn_norm", "m", "m");
    emit_residual(&l, "ffn_residual", "m");
}

void mc_emit_layers(map_ctx *m, graph_emitter *g, int n, layer_emit_fn emit, void *user) {
    sp_strbuf first = {0}, cur = {0};
    int same = n > 1;
    for (int i = 0; i < n; i++) {
        sp_strbuf *b = i == 0 ? &first : &cur;
        cur.len = 0;
        graph_emitter lg = {.b = b, .indent = "      - "};
        emit(m, &lg, "{i}", i, 1, user);
        if (i > 0 && (cur.len != first.len || memcmp(cur.s, first.s, cur.len))) same = 0;
    }
    if (same && !first.oom) {
        sp_sb_printf(g->b, "  - repeat: %d\n    var: i\n    nodes:\n", n);
        sp_sb_put(g->b, first.s, first.len);
    } else {
        for (int i = 0; i < n; i++) {
            char li[16];
            snprintf(li, sizeof li, "%d", i);
            emit(m, g, li, i, 0, user);
        }
    }
    if (first.oom || cur.oom) m->fatal = 1;
    sp_sb_free(&first);
    sp_sb_free(&cur);
}

int emit_graph(map_ctx *m, const char *name, uint64_t vocab, const char *embed, double embed_scale,
               int nlayers, layer_spec *ls, const char *final_norm, double final_offset,
               const char *head, double final_softcap) {
    sp_strbuf b = {0};
    graph_emitter g = {.b = &b, .indent = "  - "};
    sp_sb_puts(&b, "sparsa_graph: 1\nname: ");
    ge_scalar_str(&b, name);
    sp_sb_printf(&b, "\nvocab_size: %llu\ncontext_length: 0\ninputs: [tokens]\noutputs: [logits]\nnodes:\n",
                 (unsigned long long)vocab);
    const char *tok[1] = {"tokens"}, *x[1] = {"x"}, *lg[1] = {"logits"};
    mc_take(m, embed, 2, vocab, ls->hidden);
    ge_begin(&g, "embed", "embed", tok, 1, "x");
    ge_str(&g, "weight", embed);
    if (embed_scale) ge_float(&g, "scale", embed_scale);
    ge_end(&g);
    mc_emit_layers(m, &g, nlayers, emit_decoder_layer, ls);
    mc_take(m, final_norm, 1, ls->hidden, MC_ANY);
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
    if (b.oom) m->fatal = 1;
    int rc = mc_finish(m);
    if (rc) {
        sp_sb_free(&b);
        return rc;
    }
    m->res->graph_len = b.len;
    m->res->graph = sp_sb_take(&b);
    m->res->model_name = strdup(name);
    m->res->vocab_size = vocab;
    return 0;
}
