/* inspect_hparams.c — the hyper-parameter summary `sparsa inspect` shows first: layers,
 * heads / kv heads, head size, model width D, FFN width, vocabulary, the normaliser and the
 * positional scheme of each attention layer, read from the graph's attributes (repeat blocks
 * expanded, "{var}" placeholders substituted) and the tensor directory's shapes. It never
 * reads tensor data, so it costs O(graph) whatever the file size. The positional scheme of a
 * layer: RoPE when a `rope` node runs between the previous attention node and this one; ALiBi
 * when every head has a non-zero slope, NAPE when some do and some do not (the paper's mix of
 * ALiBi and NoPE heads, format/GRAPH.md §5); NoPE otherwise. */
#include <stdlib.h>
#include <string.h>

#include "inspect_yaml.h"

typedef struct walker {
    yaml_document_t *d;
    const sp_file *f;
    inspect_hparams *h;
    int rope_pending;            /* a rope node since the last attention node */
    const char *var;             /* the repeat block's placeholder name, or NULL */
    long long iter;
} walker;

/* s with "{var}" replaced by the iteration number, into out. */
static void subst(const walker *w, const char *s, size_t len, char *out, size_t cap) {
    char pat[64] = "";
    if (w->var) snprintf(pat, sizeof pat, "{%s}", w->var);
    size_t o = 0, pl = strlen(pat);
    for (size_t i = 0; i < len && o + 1 < cap;) {
        if (pl && len - i >= pl && !memcmp(s + i, pat, pl)) {
            int k = snprintf(out + o, cap - o, "%lld", w->iter);
            o = k > 0 && (size_t)k < cap - o ? o + (size_t)k : cap - 1;
            i += pl;
        } else out[o++] = s[i++];
    }
    out[o] = 0;
}

/* The scalar attribute key of node n as text (substituted), or "" when absent. */
static const char *attr(const walker *w, yaml_node_t *n, const char *key, char *buf, size_t cap) {
    size_t len;
    const char *s = inspect_yaml_scalar(inspect_yaml_get(w->d, n, key), &len);
    buf[0] = 0;
    if (!s) return buf;
    subst(w, s, len, buf, cap);
    return buf;
}

static long long attr_int(const walker *w, yaml_node_t *n, const char *key, long long dflt) {
    char buf[64];
    const char *s = attr(w, n, key, buf, sizeof buf);
    char *end;
    long long v = strtoll(s, &end, 10);
    return *s && !*end ? v : dflt;
}

/* dims[axis] of the tensor an attribute names, or 0. */
static uint64_t tensor_dim(const walker *w, yaml_node_t *n, const char *key, uint32_t axis) {
    char name[512];
    const sp_tensor_info *t = sp_file_find_tensor(w->f, attr(w, n, key, name, sizeof name));
    return t && t->ndim > axis ? t->dims[axis] : 0;
}

/* "nape (ALiBi on 3 of 6 heads)" and the like, from alibi_slopes. */
static void positional(const walker *w, yaml_node_t *n, inspect_layer *l) {
    yaml_node_t *s = inspect_yaml_get(w->d, n, "alibi_slopes");
    size_t heads = 0, biased = 0;
    if (s && s->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *it = s->data.sequence.items.start; it < s->data.sequence.items.top;
             it++) {
            size_t len;
            const char *v = inspect_yaml_scalar(yaml_document_get_node(w->d, *it), &len);
            heads++;
            biased += v && strtod(v, NULL) != 0.0;
        }
    const char *rope = w->rope_pending ? "rope" : "";
    const char *plus = w->rope_pending && biased ? "+" : "";
    if (biased && biased == heads) snprintf(l->positional, sizeof l->positional, "%s%salibi", rope, plus);
    else if (biased) snprintf(l->positional, sizeof l->positional, "%s%snape (alibi on %zu of %zu "
                              "heads)", rope, plus, biased, heads);
    else snprintf(l->positional, sizeof l->positional, "%s", w->rope_pending ? "rope" : "nope");
}

static void normaliser(const walker *w, yaml_node_t *n, inspect_layer *l) {
    char norm[48], alpha[32], qs[32], buf[32];
    attr(w, n, "normalizer", norm, sizeof norm);
    attr(w, n, "alpha", alpha, sizeof alpha);
    attr(w, n, "query_scale", qs, sizeof qs);
    int o = snprintf(l->normalizer, sizeof l->normalizer, "%s", norm[0] ? norm : "?");
    if (alpha[0]) o += snprintf(l->normalizer + o, sizeof l->normalizer - (size_t)o,
                                " alpha=%s", alpha);
    if (!strcmp(norm, "topk"))
        o += snprintf(l->normalizer + o, sizeof l->normalizer - (size_t)o, " k=%s",
                      attr(w, n, "topk", buf, sizeof buf));
    if (qs[0] && strcmp(qs, "none"))
        snprintf(l->normalizer + o, sizeof l->normalizer - (size_t)o, ", %s query scale on "
                 "%lld of %lld heads", qs, attr_int(w, n, "scaled_heads", 0),
                 attr_int(w, n, "heads", 0));
}

static int add_layer(walker *w, yaml_node_t *n) {
    inspect_hparams *h = w->h;
    if (h->n_layers == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        inspect_layer *nl = realloc(h->layers, cap * sizeof *nl);
        if (!nl) return 0;
        h->layers = nl;
        h->cap = cap;
    }
    inspect_layer *l = &h->layers[h->n_layers++];
    memset(l, 0, sizeof *l);
    l->heads = attr_int(w, n, "heads", 0);
    l->kv_heads = attr_int(w, n, "kv_heads", 0);
    l->head_dim = attr_int(w, n, "head_dim", 0);
    l->value_dim = attr_int(w, n, "value_dim", l->head_dim);
    l->window = attr_int(w, n, "window", 0);
    normaliser(w, n, l);
    positional(w, n, l);
    w->rope_pending = 0;
    return 1;
}

static int visit(walker *w, yaml_node_t *n) {
    char op[32];
    attr(w, n, "op", op, sizeof op);
    inspect_hparams *h = w->h;
    if (!strcmp(op, "embed") && !h->d_model) h->d_model = tensor_dim(w, n, "weight", 1);
    else if (!strcmp(op, "rope")) w->rope_pending = 1;
    else if (!strcmp(op, "mlp")) {
        uint64_t f = tensor_dim(w, n, "up", 0);
        if (h->ffn && f != h->ffn) h->ffn_varies = 1;
        if (f > h->ffn) h->ffn = f;
    } else if (!strcmp(op, "attention")) return add_layer(w, n);
    return 1;
}

void inspect_hparams_collect(yaml_document_t *d, yaml_node_t *root, const sp_file *f,
                             inspect_hparams *h) {
    walker w = {.d = d, .f = f, .h = h};
    h->vocab = (uint64_t)attr_int(&w, root, "vocab_size", 0);
    h->context = (uint64_t)attr_int(&w, root, "context_length", 0);
    yaml_node_t *nodes = inspect_yaml_get(d, root, "nodes");
    if (!nodes || nodes->type != YAML_SEQUENCE_NODE) return;
    for (yaml_node_item_t *it = nodes->data.sequence.items.start;
         it < nodes->data.sequence.items.top; it++) {
        yaml_node_t *n = yaml_document_get_node(d, *it);
        yaml_node_t *inner = inspect_yaml_get(d, n, "nodes");
        long long times = attr_int(&w, n, "repeat", -1);
        if (!inner || times < 1 || inner->type != YAML_SEQUENCE_NODE) {
            if (!visit(&w, n)) return;
            continue;
        }
        size_t vlen;
        const char *var = inspect_yaml_scalar(inspect_yaml_get(d, n, "var"), &vlen);
        char vbuf[48];
        snprintf(vbuf, sizeof vbuf, "%.*s", var ? (int)(vlen < 47 ? vlen : 47) : 1, var ? var : "i");
        for (w.iter = 0; w.iter < times && w.iter < 4096; w.iter++)
            for (yaml_node_item_t *j = inner->data.sequence.items.start;
                 j < inner->data.sequence.items.top; j++) {
                w.var = vbuf;
                int ok = visit(&w, yaml_document_get_node(d, *j));
                w.var = NULL;
                if (!ok) return;
            }
    }
    h->present = 1;
}
