/* inspect_graph.c — a summary of the graph section for `sparsa inspect`: op-set, name, node
 * count and op histogram, with repeat blocks counted N times (GRAPH.md §3). It only reads the
 * YAML; the interpreter is what validates a graph. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "inspect_yaml.h"

/* A decimal integer scalar in [lo, hi]; -1 otherwise. */
static long long int_scalar(yaml_node_t *n, long long lo, long long hi) {
    size_t len;
    const char *s = inspect_yaml_scalar(n, &len);
    if (!s || !len || len > 18) return -1;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi ? v : -1;
}

static void count_op(inspect_graph *g, yaml_node_t *node, uint64_t times) {
    size_t len;
    const char *op = inspect_yaml_scalar(node, &len);
    char name[48];
    if (!op) snprintf(name, sizeof name, "?");
    else snprintf(name, sizeof name, "%.*s", (int)(len < 47 ? len : 47), op);
    g->nodes += times;
    for (size_t i = 0; i < g->n_ops; i++)
        if (!strcmp(g->ops[i].op, name)) {
            g->ops[i].count += times;
            return;
        }
    if (g->n_ops == INSPECT_MAX_OPS) {
        g->other_ops += times;
        return;
    }
    snprintf(g->ops[g->n_ops].op, sizeof g->ops[0].op, "%s", name);
    g->ops[g->n_ops++].count = times;
}

static int summarise(yaml_document_t *d, inspect_graph *g) {
    yaml_node_t *root = yaml_document_get_root_node(d);
    if (!root || root->type != YAML_MAPPING_NODE) {
        snprintf(g->error, sizeof g->error, "the top level is not a mapping");
        return 0;
    }
    g->op_set = int_scalar(inspect_yaml_get(d, root, "sparsa_graph"), 0, 1000000);
    size_t len;
    const char *name = inspect_yaml_scalar(inspect_yaml_get(d, root, "name"), &len);
    if (name) snprintf(g->name, sizeof g->name, "%.*s", (int)(len < 255 ? len : 255), name);
    yaml_node_t *nodes = inspect_yaml_get(d, root, "nodes");
    if (!nodes || nodes->type != YAML_SEQUENCE_NODE) {
        snprintf(g->error, sizeof g->error, "no `nodes` list");
        return 0;
    }
    for (yaml_node_item_t *it = nodes->data.sequence.items.start;
         it < nodes->data.sequence.items.top; it++) {
        yaml_node_t *n = yaml_document_get_node(d, *it);
        yaml_node_t *rep = inspect_yaml_get(d, n, "repeat");
        if (!rep) {
            count_op(g, inspect_yaml_get(d, n, "op"), 1);
            continue;
        }
        long long times = int_scalar(rep, 1, 4096);
        yaml_node_t *inner = inspect_yaml_get(d, n, "nodes");
        if (times < 0 || !inner || inner->type != YAML_SEQUENCE_NODE) {
            snprintf(g->error, sizeof g->error, "node %ld: repeat needs a count 1..4096 and a "
                     "`nodes` list", (long)(it - nodes->data.sequence.items.start));
            return 0;
        }
        for (yaml_node_item_t *j = inner->data.sequence.items.start;
             j < inner->data.sequence.items.top; j++)
            count_op(g, inspect_yaml_get(d, yaml_document_get_node(d, *j), "op"), (uint64_t)times);
    }
    return 1;
}

void inspect_graph_summary(const char *yaml, size_t len, const sp_file *f, inspect_graph *g,
                           inspect_hparams *h) {
    yaml_parser_t p;
    yaml_document_t d;
    g->op_set = -1;
    if (!yaml_parser_initialize(&p)) {
        snprintf(g->error, sizeof g->error, "out of memory");
        return;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&p, &d)) {
        snprintf(g->error, sizeof g->error, "YAML error at line %lu: %s",
                 (unsigned long)p.problem_mark.line + 1, p.problem ? p.problem : "?");
        yaml_parser_delete(&p);
        return;
    }
    g->parsed = summarise(&d, g);
    if (g->parsed) inspect_hparams_collect(&d, yaml_document_get_root_node(&d), f, h);
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
}
