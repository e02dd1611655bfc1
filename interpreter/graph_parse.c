/* graph_parse.c — the GRAPH section's YAML (format/GRAPH.md) → sp_graph, with every `repeat`
 * block expanded and its "{var}" placeholders substituted. Only the structure is checked here
 * (keys, nesting, scalar forms); op semantics are checked in graph_validate.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "interp_internal.h"

typedef struct {
    yaml_document_t *doc;
    sp_graph *g;
    size_t cap;
    sp_error *err;
} parse_ctx;

static int pfail(parse_ctx *pc, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int pfail(parse_ctx *pc, const yaml_node_t *at, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        return sp_fail(pc->err, SP_ERR_INPUT, "graph line %lu: %s",
                       (unsigned long)at->start_mark.line + 1, msg);
    return sp_fail(pc->err, SP_ERR_INPUT, "graph: %s", msg);
}

static yaml_node_t *get(parse_ctx *pc, int idx) { return yaml_document_get_node(pc->doc, idx); }

static const char *scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* s with every occurrence of pat replaced by rep; a copy of s when pat is NULL. */
static char *subst(const char *s, const char *pat, const char *rep) {
    if (!pat) return xstrdup(s);
    size_t pl = strlen(pat), rl = strlen(rep), count = 0;
    for (const char *p = strstr(s, pat); p; p = strstr(p + pl, pat)) count++;
    size_t n = strlen(s) + count * rl + 1;
    char *d = malloc(n), *o = d;
    if (!d) return NULL;
    const char *p = s;
    for (const char *q = strstr(p, pat); q; q = strstr(p, pat)) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, rep, rl);
        o += rl;
        p = q + pl;
    }
    strcpy(o, p);
    return d;
}

static void free_node(sp_gnode *n) {
    free(n->op);
    free(n->name);
    free(n->out);
    for (size_t i = 0; i < n->n_in; i++) free(n->in[i]);
    free(n->in);
    for (size_t i = 0; i < n->n_attrs; i++) {
        sp_gattr *a = &n->attrs[i];
        free(a->key);
        free(a->scalar);
        for (size_t j = 0; j < a->n_items; j++) free(a->items[j]);
        free(a->items);
    }
    free(n->attrs);
}

void sp_graph_free(sp_graph *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_nodes; i++) free_node(&g->nodes[i]);
    free(g->nodes);
    free(g->name);
    free(g->input);
    free(g->output);
    free(g);
}

/* A list of scalars (or, when allow_scalar, one scalar) → malloc'd strings. */
static int string_list(parse_ctx *pc, const yaml_node_t *n, const char *what, const char *pat,
                       const char *rep, char ***items, size_t *count) {
    *items = NULL;
    *count = 0;
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return pfail(pc, n, "'%s' must be a list", what);
    size_t len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    *items = calloc(len ? len : 1, sizeof **items);
    if (!*items) return sp_fail(pc->err, SP_ERR_RUNTIME, "graph: out of memory");
    for (size_t i = 0; i < len; i++) {
        const char *s = scalar(get(pc, n->data.sequence.items.start[i]));
        if (!s) return pfail(pc, n, "'%s' items must be scalars", what);
        (*items)[i] = subst(s, pat, rep);
        (*count)++;
        if (!(*items)[i]) return sp_fail(pc->err, SP_ERR_RUNTIME, "graph: out of memory");
    }
    return SP_OK;
}

static int push_node(parse_ctx *pc, sp_gnode **slot) {
    sp_graph *g = pc->g;
    if (g->n_nodes >= SP_GRAPH_MAX_NODES)
        return pfail(pc, NULL, "more than %u nodes after repeat expansion", SP_GRAPH_MAX_NODES);
    if (g->n_nodes == pc->cap) {
        size_t nc = pc->cap ? pc->cap * 2 : 64;
        sp_gnode *nn = realloc(g->nodes, nc * sizeof *nn);
        if (!nn) return sp_fail(pc->err, SP_ERR_RUNTIME, "graph: out of memory");
        g->nodes = nn;
        pc->cap = nc;
    }
    *slot = &g->nodes[g->n_nodes++];
    memset(*slot, 0, sizeof **slot);
    return SP_OK;
}

/* One op node (a mapping), with pat → rep substituted in every string. */
static int parse_op_node(parse_ctx *pc, const yaml_node_t *n, const char *pat, const char *rep) {
    sp_gnode *gn = NULL;
    int rc = push_node(pc, &gn);
    if (rc) return rc;
    gn->line = n->start_mark.line + 1;
    size_t npairs = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    gn->attrs = calloc(npairs ? npairs : 1, sizeof *gn->attrs);
    if (!gn->attrs) return sp_fail(pc->err, SP_ERR_RUNTIME, "graph: out of memory");
    int have_in = 0;
    for (size_t i = 0; i < npairs; i++) {
        yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
        const char *key = scalar(get(pc, pr->key));
        const yaml_node_t *val = get(pc, pr->value);
        if (!key) return pfail(pc, n, "node keys must be scalars");
        char **dst = NULL;
        if (!strcmp(key, "op")) dst = &gn->op;
        else if (!strcmp(key, "name")) dst = &gn->name;
        else if (!strcmp(key, "out")) dst = &gn->out;
        if (dst) {
            if (*dst) return pfail(pc, n, "duplicate key '%s'", key);
            const char *s = scalar(val);
            if (!s || !*s) return pfail(pc, n, "'%s' must be a non-empty scalar", key);
            *dst = subst(s, pat, rep);
            if (!*dst) return sp_fail(pc->err, SP_ERR_RUNTIME, "graph: out of memory");
            continue;
        }
        if (!strcmp(key, "in")) {
            if (have_in++) return pfail(pc, n, "duplicate key 'in'");
            rc = string_list(pc, val, "in", pat, rep, &gn->in, &gn->n_in);
            if (rc) return rc;
            continue;
        }
        for (size_t j = 0; j < gn->n_attrs; j++)
            if (!strcmp(gn->attrs[j].key, key)) return pfail(pc, n, "duplicate key '%s'", key);
        sp_gattr *a = &gn->attrs[gn->n_attrs++];
        a->key = xstrdup(key);
        if (!a->key) return sp_fail(pc->err, SP_ERR_RUNTIME, "graph: out of memory");
        if (val && val->type == YAML_SEQUENCE_NODE) {
            a->is_seq = 1;
            rc = string_list(pc, val, key, pat, rep, &a->items, &a->n_items);
            if (rc) return rc;
        } else {
            const char *s = scalar(val);
            if (!s) return pfail(pc, val, "attribute '%s' must be a scalar or a list", key);
            a->scalar = subst(s, pat, rep);
            if (!a->scalar) return sp_fail(pc->err, SP_ERR_RUNTIME, "graph: out of memory");
        }
    }
    if (!gn->op) return pfail(pc, n, "node without 'op'");
    if (!gn->name) return pfail(pc, n, "node without 'name' (op %s)", gn->op);
    if (!gn->out) return pfail(pc, n, "node '%s' without 'out'", gn->name);
    if (!have_in) return pfail(pc, n, "node '%s' without 'in'", gn->name);
    return SP_OK;
}

static int parse_repeat(parse_ctx *pc, const yaml_node_t *n) {
    const yaml_node_t *count = NULL, *nodes = NULL;
    const char *var = "i";
    size_t npairs = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    for (size_t i = 0; i < npairs; i++) {
        yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
        const char *key = scalar(get(pc, pr->key));
        const yaml_node_t *val = get(pc, pr->value);
        if (!key) return pfail(pc, n, "repeat keys must be scalars");
        if (!strcmp(key, "repeat")) count = val;
        else if (!strcmp(key, "nodes")) nodes = val;
        else if (!strcmp(key, "var")) {
            var = scalar(val);
            if (!var || !*var) return pfail(pc, n, "repeat 'var' must be a non-empty scalar");
        } else
            return pfail(pc, n, "unknown key '%s' in repeat", key);
    }
    const char *cs = scalar(count);
    char *end = NULL;
    errno = 0;
    long long c = cs ? strtoll(cs, &end, 10) : 0;
    if (!cs || !*cs || *end || errno)
        return pfail(pc, n, "repeat count must be an integer");
    if (c <= 0 || c > SP_GRAPH_MAX_REPEAT)
        return pfail(pc, n, "repeat count %lld outside 1..%d", c, SP_GRAPH_MAX_REPEAT);
    if (!nodes || nodes->type != YAML_SEQUENCE_NODE)
        return pfail(pc, n, "repeat without a 'nodes' list");
    size_t blk = (size_t)(nodes->data.sequence.items.top - nodes->data.sequence.items.start);
    if (blk && (size_t)c > (SP_GRAPH_MAX_NODES - pc->g->n_nodes) / blk)
        return pfail(pc, n, "repeat of %lld × %zu nodes exceeds %u nodes", c, blk,
                     SP_GRAPH_MAX_NODES);
    char pat[128];
    if (strlen(var) > 100) return pfail(pc, n, "repeat 'var' too long");
    snprintf(pat, sizeof pat, "{%s}", var);
    for (long long r = 0; r < c; r++) {
        char rep[32];
        snprintf(rep, sizeof rep, "%lld", r);
        for (yaml_node_item_t *it = nodes->data.sequence.items.start;
             it < nodes->data.sequence.items.top; it++) {
            const yaml_node_t *item = get(pc, *it);
            if (!item || item->type != YAML_MAPPING_NODE)
                return pfail(pc, item ? item : n, "each node must be a mapping");
            for (yaml_node_pair_t *pr = item->data.mapping.pairs.start;
                 pr < item->data.mapping.pairs.top; pr++) {
                const char *k = scalar(get(pc, pr->key));
                if (k && !strcmp(k, "repeat"))
                    return pfail(pc, item, "repeats may not nest");
            }
            int rc = parse_op_node(pc, item, pat, rep);
            if (rc) return rc;
        }
    }
    return SP_OK;
}

static int parse_int_scalar(parse_ctx *pc, const yaml_node_t *v, const char *key, long long lo,
                            long long hi, long long *out) {
    const char *s = scalar(v);
    char *end = NULL;
    errno = 0;
    long long x = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno) return pfail(pc, v, "'%s' must be an integer", key);
    if (x < lo || x > hi) return pfail(pc, v, "'%s' = %lld outside %lld..%lld", key, x, lo, hi);
    *out = x;
    return SP_OK;
}

/* 1 if a key before pr in the same mapping is `key` (a YAML mapping must not repeat a key:
 * libyaml keeps both, and which one wins would be a guess). */
static int key_seen_before(parse_ctx *pc, const yaml_node_t *map, const yaml_node_pair_t *pr,
                           const char *key) {
    for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++) {
        const char *k = scalar(get(pc, q->key));
        if (k && !strcmp(k, key)) return 1;
    }
    return 0;
}

static int parse_top(parse_ctx *pc, const yaml_node_t *root) {
    sp_graph *g = pc->g;
    if (!root || root->type != YAML_MAPPING_NODE)
        return pfail(pc, root, "the graph must be a YAML mapping");
    const yaml_node_t *nodes = NULL;
    int have_ver = 0, have_vocab = 0, have_in = 0, have_out = 0;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top;
         pr++) {
        const char *key = scalar(get(pc, pr->key));
        const yaml_node_t *val = get(pc, pr->value);
        long long x;
        int rc = SP_OK;
        if (!key) return pfail(pc, root, "top-level keys must be scalars");
        if (key_seen_before(pc, root, pr, key))
            return pfail(pc, get(pc, pr->key), "duplicate top-level key '%s'", key);
        if (!strcmp(key, "sparsa_graph")) {
            rc = parse_int_scalar(pc, val, key, 1, 1000000, &x);
            if (!rc && x > 1)
                return pfail(pc, val, "op-set %lld is newer than this reader's op-set 1", x);
            g->opset = (long)x;
            have_ver = 1;
        } else if (!strcmp(key, "name")) {
            const char *s = scalar(val);
            if (!s) return pfail(pc, val, "'name' must be a scalar");
            free(g->name);
            g->name = xstrdup(s);
        } else if (!strcmp(key, "vocab_size")) {
            rc = parse_int_scalar(pc, val, key, 1, (long long)1 << 31, &x);
            g->vocab_size = x;
            have_vocab = 1;
        } else if (!strcmp(key, "context_length")) {
            rc = parse_int_scalar(pc, val, key, 0, (long long)1 << 40, &x);
            g->context_length = (uint64_t)x;
        } else if (!strcmp(key, "inputs") || !strcmp(key, "outputs")) {
            char **items;
            size_t n;
            rc = string_list(pc, val, key, NULL, NULL, &items, &n);
            if (!rc && n != 1)
                rc = pfail(pc, val, "'%s' must name exactly one value (has %zu)", key, n);
            if (!rc) {
                char **dst = key[0] == 'i' ? &g->input : &g->output;
                free(*dst);
                *dst = items[0];
                items[0] = NULL;
                if (key[0] == 'i') have_in = 1; else have_out = 1;
            }
            for (size_t i = 0; i < n; i++) free(items[i]);
            free(items);
        } else if (!strcmp(key, "nodes")) {
            nodes = val;
        } else {
            return pfail(pc, pr->key ? get(pc, pr->key) : root, "unknown top-level key '%s'", key);
        }
        if (rc) return rc;
    }
    if (!have_ver) return pfail(pc, root, "missing 'sparsa_graph' (op-set version)");
    if (!have_vocab) return pfail(pc, root, "missing 'vocab_size'");
    if (!have_in) return pfail(pc, root, "missing 'inputs'");
    if (!have_out) return pfail(pc, root, "missing 'outputs'");
    if (!nodes || nodes->type != YAML_SEQUENCE_NODE)
        return pfail(pc, nodes ? nodes : root, "missing 'nodes' list");
    for (yaml_node_item_t *it = nodes->data.sequence.items.start;
         it < nodes->data.sequence.items.top; it++) {
        const yaml_node_t *item = get(pc, *it);
        if (!item || item->type != YAML_MAPPING_NODE)
            return pfail(pc, item ? item : nodes, "each node must be a mapping");
        int is_repeat = 0;
        for (yaml_node_pair_t *pr = item->data.mapping.pairs.start;
             pr < item->data.mapping.pairs.top; pr++) {
            const char *k = scalar(get(pc, pr->key));
            if (k && !strcmp(k, "repeat")) is_repeat = 1;
        }
        int rc = is_repeat ? parse_repeat(pc, item) : parse_op_node(pc, item, NULL, NULL);
        if (rc) return rc;
    }
    if (g->n_nodes == 0) return pfail(pc, nodes, "the graph has no nodes");
    return SP_OK;
}

int sp_graph_parse(const char *yaml, size_t len, sp_graph **out, sp_error *err) {
    *out = NULL;
    if (!yaml || len == 0) return sp_fail(err, SP_ERR_INPUT, "the model file has no graph");
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return sp_fail(err, SP_ERR_RUNTIME, "graph: out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        sp_fail(err, SP_ERR_INPUT, "graph line %lu: YAML error: %s",
                (unsigned long)parser.problem_mark.line + 1,
                parser.problem ? parser.problem : "malformed");
        yaml_parser_delete(&parser);
        return SP_ERR_INPUT;
    }
    parse_ctx pc = {.doc = &doc, .err = err};
    pc.g = calloc(1, sizeof *pc.g);
    int rc = pc.g ? parse_top(&pc, yaml_document_get_root_node(&doc))
                  : sp_fail(err, SP_ERR_RUNTIME, "graph: out of memory");
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc) {
        sp_graph_free(pc.g);
        return rc;
    }
    *out = pc.g;
    return SP_OK;
}
