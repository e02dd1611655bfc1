/* hparams.c — a model config recovered from a Lightning checkpoint's `hyper_parameters`, for
 * checkpoints that travel without their config.json.
 *
 * Lightning stores what the module passed to save_hyperparameters: plain dicts, an
 * AttributeDict, a config object, or (the paper's Hydra setup) a functools.partial of the
 * network wrapper whose keywords are the config overrides, sometimes as OmegaConf containers.
 * The restricted pickle machine keeps all of these as inert data, so the config is found by
 * walking them: the first dict-like value that holds a model-size key (hidden_size,
 * num_hidden_layers, num_attention_heads, or torchtitan's dim/n_layers) is the config. Its
 * plain values (numbers, strings, booleans, null, lists and nested dicts) are written out as a
 * JSON object; anything else (classes, tensors, callables) is left out. Nothing is executed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_readers.h"
#include "sparsa_common.h"

/* Bounds on the walk: a hostile pickle can share one container many times over (the memo),
 * so the number of visits, not only the depth, is capped; configs are small. */
enum { MAX_DEPTH = 12, MAX_VISITS = 200000, MAX_DICT_PAIRS = 4096 };

typedef struct {
    sp_strbuf b;
    long visits;
} text;

static void puts_(text *t, const char *s) { sp_sb_puts(&t->b, s); }
static void put_string(text *t, const char *s, size_t n) { sp_sb_json_string(&t->b, s, n); }

/* An OBJECT whose items are string-keyed pairs (a dict subclass filled by SETITEMS). */
static int object_is_dict(const sp_pobj *o) {
    if (o->type != SP_PK_OBJECT || o->n == 0 || (o->n & 1)) return 0;
    for (size_t i = 0; i < o->n; i += 2)
        if (o->items[i]->type != SP_PK_STR) return 0;
    return 1;
}

static int is_dict_like(const sp_pobj *o) { return o && (o->type == SP_PK_DICT || object_is_dict(o)); }

/* OmegaConf nodes and containers keep their value in their state: `_val` (a leaf) or
 * `_content` (a list or dict of nodes). */
static const sp_pobj *unwrap(const sp_pobj *o) {
    for (int i = 0; o && i < MAX_DEPTH && o->type == SP_PK_OBJECT; i++) {
        const sp_pobj *st = o->state;
        const sp_pobj *v = st && st->type == SP_PK_DICT ? sp_pobj_dict_get(st, "_content") : NULL;
        if (!v && st && st->type == SP_PK_DICT) v = sp_pobj_dict_get(st, "_val");
        if (!v) return o;
        o = v;
    }
    return o;
}

/* 1 if written, 0 if the value has no JSON form (then nothing was written). */
static int put_value(text *t, const sp_pobj *o, int depth) {
    o = unwrap(o);
    if (!o || depth > MAX_DEPTH || ++t->visits > MAX_VISITS) return 0;
    char num[64];
    switch (o->type) {
    case SP_PK_NONE: puts_(t, "null"); return 1;
    case SP_PK_BOOL: puts_(t, o->v.i ? "true" : "false"); return 1;
    case SP_PK_INT:
        snprintf(num, sizeof num, "%lld", (long long)o->v.i);
        puts_(t, num);
        return 1;
    case SP_PK_FLOAT:
        if (!isfinite(o->v.f)) return 0;
        for (int prec = 15; prec <= 17; prec++) { /* the shortest text that reads back exactly */
            snprintf(num, sizeof num, "%.*g", prec, o->v.f);
            if (strtod(num, NULL) == o->v.f) break;
        }
        puts_(t, num);
        return 1;
    case SP_PK_STR: put_string(t, o->s, o->len); return 1;
    case SP_PK_TUPLE:
    case SP_PK_LIST:
        puts_(t, "[");
        for (size_t i = 0; i < o->n; i++) {
            if (i) puts_(t, ",");
            if (!put_value(t, o->items[i], depth + 1)) puts_(t, "null");
        }
        puts_(t, "]");
        return 1;
    default:
        if (!is_dict_like(o) || o->n > 2 * MAX_DICT_PAIRS) return 0;
        puts_(t, "{");
        int first = 1;
        for (size_t i = 0; i + 1 < o->n; i += 2) {
            const sp_pobj *k = o->items[i];
            if (k->type != SP_PK_STR) continue;
            size_t mark = t->b.len;
            if (!first) puts_(t, ",");
            put_string(t, k->s, k->len);
            puts_(t, ":");
            if (put_value(t, o->items[i + 1], depth + 1)) first = 0;
            else if (!t->b.oom) {
                t->b.len = mark; /* drop the key of a value with no JSON form */
                t->b.s[mark] = 0;
            }
        }
        puts_(t, "}");
        return 1;
    }
}

static int holds_model_size(const sp_pobj *d) {
    static const char *keys[] = {"hidden_size", "num_hidden_layers", "num_attention_heads", "dim", "n_layers"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (sp_pobj_dict_get(d, keys[i])) return 1;
    return 0;
}

static const sp_pobj *find_config(const sp_pobj *o, int depth, long *visits) {
    o = unwrap(o);
    if (!o || depth > MAX_DEPTH || ++*visits > MAX_VISITS) return NULL;
    if (is_dict_like(o)) {
        if (o->n <= 2 * MAX_DICT_PAIRS && holds_model_size(o)) return o;
        for (size_t i = 1; i < o->n; i += 2) {
            const sp_pobj *f = find_config(o->items[i], depth + 1, visits);
            if (f) return f;
        }
        return NULL;
    }
    if (o->type == SP_PK_TUPLE || o->type == SP_PK_LIST) {
        for (size_t i = 0; i < o->n; i++) {
            const sp_pobj *f = find_config(o->items[i], depth + 1, visits);
            if (f) return f;
        }
        return NULL;
    }
    if (o->type == SP_PK_OBJECT) {
        /* functools.partial: state (func, args, keywords, __dict__); a config object: its
         * __dict__; then the constructor arguments */
        const sp_pobj *f = o->state ? find_config(o->state, depth + 1, visits) : NULL;
        if (!f && o->args) f = find_config(o->args, depth + 1, visits);
        return f;
    }
    return NULL;
}

char *sp_hparams_config_json(const sp_pobj *root) {
    const sp_pobj *hp = sp_pobj_dict_get(root, "hyper_parameters");
    if (!hp) hp = sp_pobj_dict_get(root, "hparams");
    long visits = 0;
    const sp_pobj *cfg = hp ? find_config(hp, 0, &visits) : NULL;
    if (!cfg) return NULL;
    text t = {0};
    if (!put_value(&t, cfg, 0) || t.b.oom) {
        sp_sb_free(&t.b);
        return NULL;
    }
    return sp_sb_take(&t.b);
}
