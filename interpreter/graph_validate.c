/* graph_validate.c — checks every node of a parsed graph against the op table and the file's
 * tensors (format/GRAPH.md §6) and turns it into ops reading and writing value versions.
 * Each error names the node. The buffer plan is built afterwards by plan.c. */
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

/* A small open-addressing map from names to ints (node names, latest value versions). */
typedef struct {
    const char **keys;
    int *vals;
    size_t cap;
} name_map;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int map_init(name_map *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap *= 2;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = calloc(m->cap, sizeof *m->vals);
    return m->keys && m->vals ? 0 : -1;
}

static void map_free(name_map *m) {
    free(m->keys);
    free(m->vals);
}

/* Returns the slot for key (existing or empty). The map never fills: cap > 2·entries. */
static size_t map_slot(const name_map *m, const char *key) {
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key)) i = (i + 1) & (m->cap - 1);
    return i;
}

static int *map_get(const name_map *m, const char *key) {
    size_t i = map_slot(m, key);
    return m->keys[i] ? &m->vals[i] : NULL;
}

static void map_put(name_map *m, const char *key, int v) {
    size_t i = map_slot(m, key);
    m->keys[i] = key;
    m->vals[i] = v;
}


/* The name maps of one compile: node names (unique) and the latest version of each value. */
typedef struct {
    name_map names, latest;
} compile_maps;

/* The node's input count against the op's range. */
static int check_arity(sp_compile_ctx *cc, const sp_op_kind *k, sp_error *err) {
    const size_t n = cc->gn->n_in;
    if ((int)n >= k->min_in && (int)n <= k->max_in) return SP_OK;
    if (k->min_in == k->max_in)
        return sp_compile_fail(cc, err, "takes %d inputs, got %zu", k->min_in, n);
    return sp_compile_fail(cc, err, "takes %d to %d inputs, got %zu", k->min_in, k->max_in, n);
}

/* Each input name → the value version it reads (the token ids only as an embed's input). */
static int bind_inputs(sp_model *m, sp_op *op, sp_compile_ctx *cc, const name_map *latest,
                       size_t *in_width, sp_error *err) {
    const sp_graph *g = m->graph;
    const sp_gnode *gn = cc->gn;
    for (size_t j = 0; j < gn->n_in; j++) {
        const char *nm = gn->in[j];
        int is_tokens = !strcmp(nm, g->input);
        if (op->kind->tokens_input && j == 0) {
            op->in_ver[j] = -1;
            if (!is_tokens)
                return sp_compile_fail(cc, err, "input '%s' must be the graph input '%s'", nm, g->input);
            continue;
        }
        if (is_tokens)
            return sp_compile_fail(cc, err, "the token ids '%s' can only feed an embed op", nm);
        int *v = map_get(latest, nm);
        if (!v) return sp_compile_fail(cc, err, "reads value '%s' before it is written", nm);
        op->in_ver[j] = *v;
        in_width[j] = m->plan.vers[*v].width;
        op->in_width[j] = in_width[j];
    }
    return SP_OK;
}

/* After the op's compile hook: every attribute must have been read by it. */
static int check_attrs_used(sp_compile_ctx *cc, sp_error *err) {
    for (size_t a = 0; a < cc->gn->n_attrs; a++)
        if (!cc->gn->attrs[a].used)
            return sp_compile_fail(cc, err, "unknown attribute '%s'", cc->gn->attrs[a].key);
    return SP_OK;
}

/* The op's output becomes the latest version of its name; attention ops get a KV layer. */
static void record_output(sp_model *m, size_t i, name_map *latest) {
    sp_op *op = &m->ops[i];
    sp_value_ver *ver = &m->plan.vers[m->plan.n_vers];
    ver->name = op->gn->out;
    ver->width = op->out_width;
    ver->producer = (int)i;
    ver->last_use = -1;
    op->out_ver = (int)m->plan.n_vers;
    map_put(latest, op->gn->out, (int)m->plan.n_vers);
    m->plan.n_vers++;
    if (!op->kind->row_wise) {
        op->layer = (int)m->n_layers;
        m->layer_op[m->n_layers++] = (int)i;
    }
}

/* Node i → op i: name, op kind, inputs, the op's own checks (compile hook), output. */
static int compile_node(sp_model *m, size_t i, compile_maps *maps, sp_error *err) {
    const sp_gnode *gn = &m->graph->nodes[i];
    sp_op *op = &m->ops[i];
    size_t in_width[SP_MAX_OP_INPUTS] = {0};
    sp_compile_ctx cc = {.file = m->file, .graph = m->graph, .gn = gn, .n_in = gn->n_in,
                         .in_width = in_width};
    op->gn = gn;
    m->n_ops = i + 1; /* from here on sp_model_free releases this op's state */
    if (map_get(&maps->names, gn->name)) return sp_compile_fail(&cc, err, "duplicate node name");
    map_put(&maps->names, gn->name, (int)i);
    op->kind = sp_op_kind_find(gn->op);
    if (!op->kind) return sp_compile_fail(&cc, err, "unknown op '%s'", gn->op);
    int rc = check_arity(&cc, op->kind, err);
    if (rc) return rc;
    op->n_in = gn->n_in;
    rc = bind_inputs(m, op, &cc, &maps->latest, in_width, err);
    if (rc) return rc;
    if (!strcmp(gn->out, m->graph->input))
        return sp_compile_fail(&cc, err, "writes the graph input '%s'", gn->out);
    rc = op->kind->compile(&cc, op, err);
    if (!rc) rc = check_attrs_used(&cc, err);
    if (rc) return rc;
    if (op->out_width == 0) return sp_compile_fail(&cc, err, "output width is 0");
    record_output(m, i, &maps->latest);
    return SP_OK;
}

/* The graph's output: written, and as wide as the vocabulary. */
static int check_output(sp_model *m, const name_map *latest, sp_error *err) {
    const sp_graph *g = m->graph;
    int *v = map_get(latest, g->output);
    if (!v) return sp_fail(err, SP_ERR_INPUT, "graph: the output '%s' is never written", g->output);
    if (m->plan.vers[*v].width != (size_t)g->vocab_size)
        return sp_fail(err, SP_ERR_INPUT,
                       "graph node '%s': output '%s' has width %zu but vocab_size is %lld",
                       m->ops[m->plan.vers[*v].producer].gn->name, g->output,
                       m->plan.vers[*v].width, (long long)g->vocab_size);
    m->plan.out_ver = *v;
    return SP_OK;
}

int sp_graph_compile(sp_model *m, sp_error *err) {
    const sp_graph *g = m->graph;
    compile_maps maps = {0};
    int rc = SP_OK;
    m->ops = calloc(g->n_nodes, sizeof *m->ops);
    m->plan.vers = calloc(g->n_nodes, sizeof *m->plan.vers);
    m->layer_op = calloc(g->n_nodes, sizeof *m->layer_op);
    if (!m->ops || !m->plan.vers || !m->layer_op || map_init(&maps.names, g->n_nodes) ||
        map_init(&maps.latest, g->n_nodes))
        rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; !rc && i < g->n_nodes; i++) m->ops[i].layer = -1;
    for (size_t i = 0; !rc && i < g->n_nodes; i++) rc = compile_node(m, i, &maps, err);
    if (!rc) rc = check_output(m, &maps.latest, err);
    map_free(&maps.names);
    map_free(&maps.latest);
    return rc;
}
