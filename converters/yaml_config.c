/* yaml_config.c — a YAML config (`--config model.yaml`, e.g. the paper's Hydra model configs)
 * turned into the JSON object the mappings read.
 *
 * Plain scalars are typed as YAML 1.1/Hydra read them (null/~, true/false, integers, floats,
 * else strings); quoted scalars stay strings. A value that is exactly an OmegaConf
 * interpolation of another key, `${.key}` (a sibling) or `${a.b}` (from the top), takes that
 * key's value. The config is the first mapping, depth first, that holds a model-size key
 * (hidden_size, num_hidden_layers, num_attention_heads, dim, n_layers), so a Hydra file that
 * nests the network under `net:` or `config:` works as well as a flat one; otherwise the top
 * mapping. Aliases are followed, within a budget, so an alias bomb cannot blow up the output.
 * A key given twice in any mapping is refused, naming it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config_readers.h"
#include "sparsa_common.h"

enum { MAX_DEPTH = 64, MAX_VISITS = 1 << 20, MAX_OUT = 16 << 20 };

typedef struct {
    yaml_document_t *doc;
    sp_strbuf b;
    int over;
    long visits;
} emit_ctx;

/* Output stops growing once past MAX_OUT (aliases can repeat a long scalar many times). */
static void put(emit_ctx *e, const char *s, size_t n) {
    if (e->b.len + n > MAX_OUT) e->over = 1;
    if (!e->over) sp_sb_put(&e->b, s, n);
}

static void put_string(emit_ctx *e, const char *s, size_t n) {
    if (e->b.len + 6 * n + 2 > MAX_OUT) e->over = 1;
    if (!e->over) sp_sb_json_string(&e->b, s, n);
}

static yaml_node_t *node(emit_ctx *e, int id) { return yaml_document_get_node(e->doc, id); }

static int scalar_is(const yaml_node_t *n, const char *s) {
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           !memcmp(n->data.scalar.value, s, strlen(s));
}

/* The value node of key (a dotted path from `from`), or NULL. */
static yaml_node_t *lookup(emit_ctx *e, yaml_node_t *from, const char *path, size_t len) {
    yaml_node_t *cur = from;
    while (cur && len) {
        const char *dot = memchr(path, '.', len);
        size_t k = dot ? (size_t)(dot - path) : len;
        yaml_node_t *next = NULL;
        if (cur->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *pr = cur->data.mapping.pairs.start; pr < cur->data.mapping.pairs.top; pr++) {
                yaml_node_t *kn = node(e, pr->key);
                if (kn && kn->type == YAML_SCALAR_NODE && kn->data.scalar.length == k &&
                    !memcmp(kn->data.scalar.value, path, k))
                    next = node(e, pr->value);
            }
        cur = next;
        path += dot ? k + 1 : k;
        len -= dot ? k + 1 : k;
    }
    return cur;
}

/* A whole-value interpolation `${.key}` / `${a.b}` resolved against parent / the root. */
static yaml_node_t *resolve(emit_ctx *e, yaml_node_t *n, yaml_node_t *parent, int hops) {
    while (n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && hops++ < 16) {
        const char *s = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        if (len < 4 || memcmp(s, "${", 2) || s[len - 1] != '}' || memchr(s + 2, '$', len - 3)) break;
        s += 2, len -= 3;
        yaml_node_t *t = *s == '.' ? lookup(e, parent, s + 1, len - 1) : lookup(e, yaml_document_get_root_node(e->doc), s, len);
        if (!t) break;
        n = t;
    }
    return n;
}

static void put_scalar(emit_ctx *e, const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        put_string(e, s, len);
        return;
    }
    static const char *nulls[] = {"null", "Null", "NULL", "~", ""};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (len == strlen(nulls[i]) && !memcmp(s, nulls[i], len)) {
            put(e, "null", 4);
            return;
        }
    if ((len == 4 && !strncasecmp(s, "true", 4)) || (len == 5 && !strncasecmp(s, "false", 5))) {
        put(e, len == 4 ? "true" : "false", len == 4 ? 4 : 5);
        return;
    }
    char buf[64];
    if (len < sizeof buf) {
        memcpy(buf, s, len);
        buf[len] = 0;
        char *end;
        double v = strtod(buf, &end);
        int hex = strchr(buf, 'x') || strchr(buf, 'X');
        if (end == buf + len && len && !hex && isfinite(v)) {
            /* a number as written (JSON has no leading '+' or '.', so normalise those) */
            if (buf[0] == '+' || buf[0] == '.' || (buf[0] == '-' && buf[1] == '.') || buf[len - 1] == '.') {
                snprintf(buf, sizeof buf, "%.17g", v);
                put(e, buf, strlen(buf));
            } else
                put(e, s, len);
            return;
        }
    }
    put_string(e, s, len);
}

static void put_node(emit_ctx *e, yaml_node_t *n, yaml_node_t *parent, int depth) {
    if (!n || depth > MAX_DEPTH || ++e->visits > MAX_VISITS) {
        e->over = 1;
        return;
    }
    n = resolve(e, n, parent, 0);
    switch (n->type) {
    case YAML_SCALAR_NODE: put_scalar(e, n); break;
    case YAML_SEQUENCE_NODE:
        put(e, "[", 1);
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            if (it != n->data.sequence.items.start) put(e, ",", 1);
            put_node(e, node(e, *it), n, depth + 1);
        }
        put(e, "]", 1);
        break;
    case YAML_MAPPING_NODE:
        put(e, "{", 1);
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = node(e, pr->key);
            if (!k || k->type != YAML_SCALAR_NODE) continue;
            if (pr != n->data.mapping.pairs.start) put(e, ",", 1);
            put_string(e, (const char *)k->data.scalar.value, k->data.scalar.length);
            put(e, ":", 1);
            put_node(e, node(e, pr->value), n, depth + 1);
        }
        put(e, "}", 1);
        break;
    default: put(e, "null", 4); break;
    }
}

static yaml_node_t *find_config(emit_ctx *e, yaml_node_t *n, int depth) {
    if (!n || depth > MAX_DEPTH || ++e->visits > MAX_VISITS || n->type != YAML_MAPPING_NODE) return NULL;
    static const char *keys[] = {"hidden_size", "num_hidden_layers", "num_attention_heads", "dim", "n_layers"};
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++)
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (scalar_is(node(e, pr->key), keys[i])) return n;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *f = find_config(e, node(e, pr->value), depth + 1);
        if (f) return f;
    }
    return NULL;
}

/* A mapping key as read, for the duplicate check. */
typedef struct {
    const char *s;
    size_t len, line;
} yaml_key;

static int cmp_key(const void *a, const void *b) {
    const yaml_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* A key given twice in one mapping is an error naming it: YAML readers disagree on which value
 * wins (PyYAML takes the last, OmegaConf refuses), so sparsa does not guess. Sorted, so a
 * mapping with many keys costs n log n. */
static int check_duplicate_keys(yaml_document_t *doc, sp_error *err) {
    for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++) {
        if (n->type != YAML_MAPPING_NODE) continue;
        size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start), k = 0;
        if (count < 2) continue;
        yaml_key *keys = malloc(count * sizeof *keys);
        if (!keys) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
            yaml_node_t *kn = yaml_document_get_node(doc, pr->key);
            if (kn && kn->type == YAML_SCALAR_NODE)
                keys[k++] = (yaml_key){(const char *)kn->data.scalar.value, kn->data.scalar.length,
                                       kn->start_mark.line + 1};
        }
        qsort(keys, k, sizeof *keys, cmp_key);
        int rc = 0;
        for (size_t i = 1; i < k && !rc; i++)
            if (keys[i].len == keys[i - 1].len && !memcmp(keys[i].s, keys[i - 1].s, keys[i].len))
                rc = sp_fail(err, SP_ERR_INPUT, "key '%.*s' is given twice in one mapping (lines %zu and %zu)",
                             (int)(keys[i].len > 100 ? 100 : keys[i].len), keys[i].s, keys[i - 1].line, keys[i].line);
        free(keys);
        if (rc) return rc;
    }
    return 0;
}

int sp_yaml_config_to_json(const char *text, size_t len, char **out, sp_error *err) {
    *out = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = sp_fail(err, SP_ERR_INPUT, "YAML error at line %zu: %s", parser.problem_mark.line + 1,
                         parser.problem ? parser.problem : "malformed");
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_parser_delete(&parser);
    emit_ctx e = {.doc = &doc};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = 0;
    if (!root || root->type != YAML_MAPPING_NODE)
        rc = sp_fail(err, SP_ERR_INPUT, "the YAML config is not a mapping");
    else if (!(rc = check_duplicate_keys(&doc, err))) {
        yaml_node_t *cfg = find_config(&e, root, 0);
        e.visits = 0;
        e.over = 0;
        put_node(&e, cfg ? cfg : root, root, 0);
        if (e.b.oom) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        else if (e.over) rc = sp_fail(err, SP_ERR_INPUT, "the YAML config is too large or too deep (aliases?)");
    }
    yaml_document_delete(&doc);
    if (rc) {
        sp_sb_free(&e.b);
        return rc;
    }
    *out = sp_sb_take(&e.b);
    return *out ? 0 : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
}
