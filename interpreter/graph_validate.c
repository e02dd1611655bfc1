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


int sp_graph_compile(sp_model *m, sp_error *err) {
    const sp_graph *g = m->graph;
    name_map names, latest;
    int rc = SP_OK;
    m->ops = calloc(g->n_nodes, sizeof *m->ops);
    m->plan.vers = calloc(g->n_nodes, sizeof *m->plan.vers);
    m->layer_op = calloc(g->n_nodes, sizeof *m->layer_op);
    if (!m->ops || !m->plan.vers || !m->layer_op || map_init(&names, g->n_nodes) ||
        map_init(&latest, g->n_nodes)) {
        map_free(&names);
        map_free(&latest);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    for (size_t i = 0; i < g->n_nodes; i++) m->ops[i].layer = -1;
    for (size_t i = 0; i < g->n_nodes && !rc; i++) {
        const sp_gnode *gn = &g->nodes[i];
        sp_op *op = &m->ops[i];
        size_t in_width[SP_MAX_OP_INPUTS] = {0};
        sp_compile_ctx cc = {.file = m->file, .graph = g, .gn = gn, .n_in = gn->n_in,
                             .in_width = in_width};
        op->gn = gn;
        m->n_ops = i + 1;
        if (map_get(&names, gn->name)) {
            rc = sp_compile_fail(&cc, err, "duplicate node name");
            break;
        }
        map_put(&names, gn->name, (int)i);
        op->kind = sp_op_kind_find(gn->op);
        if (!op->kind) {
            rc = sp_compile_fail(&cc, err, "unknown op '%s'", gn->op);
            break;
        }
        if ((int)gn->n_in < op->kind->min_in || (int)gn->n_in > op->kind->max_in) {
            rc = op->kind->min_in == op->kind->max_in
                     ? sp_compile_fail(&cc, err, "takes %d inputs, got %zu", op->kind->min_in, gn->n_in)
                     : sp_compile_fail(&cc, err, "takes %d to %d inputs, got %zu",
                                       op->kind->min_in, op->kind->max_in, gn->n_in);
            break;
        }
        op->n_in = gn->n_in;
        for (size_t j = 0; j < gn->n_in && !rc; j++) {
            const char *nm = gn->in[j];
            int is_tokens = !strcmp(nm, g->input);
            if (op->kind->tokens_input && j == 0) {
                if (!is_tokens)
                    rc = sp_compile_fail(&cc, err, "input '%s' must be the graph input '%s'", nm,
                                         g->input);
                op->in_ver[j] = -1;
                continue;
            }
            if (is_tokens) {
                rc = sp_compile_fail(&cc, err, "the token ids '%s' can only feed an embed op", nm);
                break;
            }
            int *v = map_get(&latest, nm);
            if (!v) {
                rc = sp_compile_fail(&cc, err, "reads value '%s' before it is written", nm);
                break;
            }
            op->in_ver[j] = *v;
            in_width[j] = m->plan.vers[*v].width;
            op->in_width[j] = in_width[j];
        }
        if (rc) break;
        if (!strcmp(gn->out, g->input)) {
            rc = sp_compile_fail(&cc, err, "writes the graph input '%s'", gn->out);
            break;
        }
        rc = op->kind->compile(&cc, op, err);
        if (rc) break;
        for (size_t a = 0; a < gn->n_attrs; a++)
            if (!gn->attrs[a].used) {
                rc = sp_compile_fail(&cc, err, "unknown attribute '%s'", gn->attrs[a].key);
                break;
            }
        if (rc) break;
        if (op->out_width == 0) {
            rc = sp_compile_fail(&cc, err, "output width is 0");
            break;
        }
        sp_value_ver *ver = &m->plan.vers[m->plan.n_vers];
        ver->name = gn->out;
        ver->width = op->out_width;
        ver->producer = (int)i;
        ver->last_use = -1;
        op->out_ver = (int)m->plan.n_vers;
        map_put(&latest, gn->out, (int)m->plan.n_vers);
        m->plan.n_vers++;
        if (!op->kind->row_wise) {
            op->layer = (int)m->n_layers;
            m->layer_op[m->n_layers++] = (int)i;
        }
    }
    if (!rc) {
        int *v = map_get(&latest, g->output);
        if (!v)
            rc = sp_fail(err, SP_ERR_INPUT, "graph: the output '%s' is never written", g->output);
        else if (m->plan.vers[*v].width != (size_t)g->vocab_size)
            rc = sp_fail(err, SP_ERR_INPUT,
                         "graph node '%s': output '%s' has width %zu but vocab_size is %lld",
                         m->ops[m->plan.vers[*v].producer].gn->name, g->output,
                         m->plan.vers[*v].width, (long long)g->vocab_size);
        else
            m->plan.out_ver = *v;
    }
    map_free(&names);
    map_free(&latest);
    return rc;
}
