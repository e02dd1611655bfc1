/* dist_parts.c — part files of a split run read back and checked to belong together
 * (dist_parts.h): the file parsed as JSON, its command, the members every part of one run
 * shares, and parts 0..N-1 each given exactly once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist_parts.h"

#define PART_MAX_BYTES ((uint64_t)4 << 30)

static int jv_equal(const sp_jv *a, const sp_jv *b) {
    if (!a || !b) return a == b;
    if (a->type != b->type || a->n != b->n) return 0;
    switch (a->type) {
    case SP_JV_NULL: return 1;
    case SP_JV_BOOL: return a->boolean == b->boolean;
    case SP_JV_NUMBER: return a->number == b->number;
    case SP_JV_STRING: return a->len == b->len && !memcmp(a->str, b->str, a->len);
    default: break;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->type == SP_JV_OBJECT && strcmp(a->keys[i], b->keys[i])) return 0;
        if (!jv_equal(&a->items[i], &b->items[i])) return 0;
    }
    return 1;
}

int sp_part_uint_value(const sp_jv *v, uint64_t *out) {
    if (!v || v->type != SP_JV_NUMBER || v->number < 0 || v->number > 9007199254740992.0 ||
        v->number != floor(v->number))
        return SP_ERR_INPUT;
    *out = (uint64_t)v->number;
    return SP_OK;
}

int sp_part_get_uint(const sp_jv *o, const char *key, uint64_t *out) {
    return sp_part_uint_value(sp_jv_get(o, key), out);
}

const sp_jv *sp_part_get_array(const sp_jv *o, const char *key) {
    const sp_jv *v = sp_jv_get(o, key);
    return v && v->type == SP_JV_ARRAY ? v : NULL;
}

const sp_jv *sp_part_get_array_n(const sp_jv *o, const char *key, size_t n) {
    const sp_jv *v = sp_part_get_array(o, key);
    return v && v->n == n ? v : NULL;
}

const char *sp_part_get_string(const sp_jv *o, const char *key) {
    const sp_jv *v = sp_jv_get(o, key);
    return v && v->type == SP_JV_STRING ? v->str : NULL;
}

const char *sp_part_command(const sp_part *p) {
    const char *c = sp_part_get_string(&p->doc, "command");
    return c ? c : "perplexity";
}

int sp_part_read(const char *path, const char *command, const sp_part_key *keys, size_t n_keys,
                 sp_part *p, sp_error *err) {
    char *text = NULL;
    size_t len = 0;
    memset(p, 0, sizeof *p);
    p->path = path;
    int rc = sp_read_file(path, PART_MAX_BYTES, &text, &len, err);
    if (rc) return rc;
    sp_error jerr = {0};
    rc = sp_jv_parse(text, len, &p->doc, &jerr);
    free(text);
    if (rc) return sp_fail(err, SP_ERR_INPUT, "%s: %s", path, jerr.msg);
    const sp_jv *tag = sp_jv_get(&p->doc, "sparsa_part");
    if (!tag || tag->type != SP_JV_NUMBER || tag->number != 1)
        return sp_fail(err, SP_ERR_INPUT, "%s is not a part file of %s --shard", path,
                       command ? command : "a");
    if (command && strcmp(sp_part_command(p), command))
        return sp_fail(err, SP_ERR_INPUT, "%s is a part of %s --shard, not of %s --shard", path,
                       sp_part_command(p), command);
    for (size_t k = 0; k < n_keys; k++)
        if (!sp_jv_get(&p->doc, keys[k].key))
            return sp_fail(err, SP_ERR_INPUT, "%s: no \"%s\"", path, keys[k].key);
    if (sp_part_get_uint(&p->doc, "part", &p->part) ||
        sp_part_get_uint(&p->doc, "parts", &p->parts) ||
        sp_part_get_uint(&p->doc, "first", &p->first) ||
        sp_part_get_uint(&p->doc, "end", &p->end) || p->parts == 0 || p->part >= p->parts ||
        p->end < p->first)
        return sp_fail(err, SP_ERR_INPUT, "%s: bad part, parts, first or end", path);
    return SP_OK;
}

int sp_parts_check(const sp_part *parts, size_t n, const char *command, const sp_part_key *keys,
                   size_t n_keys, sp_error *err) {
    for (size_t i = 1; i < n; i++)
        for (size_t k = 0; k < n_keys; k++) {
            const char *key = keys[k].key;
            if (!jv_equal(sp_jv_get(&parts[0].doc, key), sp_jv_get(&parts[i].doc, key)))
                return sp_fail(err, SP_ERR_INPUT, "%s is a part of %s than %s (\"%s\" differs)",
                               parts[i].path, keys[k].what, parts[0].path, key);
        }
    uint64_t total = parts[0].parts;
    if (total > n + 1000000)
        return sp_fail(err, SP_ERR_INPUT, "%llu parts expected, %zu given",
                       (unsigned long long)total, n);
    size_t *seen = calloc(total, sizeof *seen); /* index + 1 of the part file */
    if (!seen) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    int rc = SP_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t *s = &seen[parts[i].part];
        if (*s)
            rc = sp_fail(err, SP_ERR_INPUT, "part %llu/%llu given twice (%s and %s)",
                         (unsigned long long)parts[i].part, (unsigned long long)total,
                         parts[*s - 1].path, parts[i].path);
        *s = i + 1;
    }
    for (uint64_t k = 0; k < total && !rc; k++)
        if (!seen[k])
            rc = sp_fail(err, SP_ERR_INPUT, "part %llu/%llu is missing (run %s with --shard "
                         "%llu/%llu)", (unsigned long long)k, (unsigned long long)total, command,
                         (unsigned long long)k, (unsigned long long)total);
    free(seen);
    return rc;
}

const char *sp_part_file_command(const char *path) {
    static const char *const known[] = {"eval-task", "mc"};
    const char *command = "perplexity";
    sp_part p;
    sp_error err = {0};
    if (!sp_part_read(path, NULL, NULL, 0, &p, &err))
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (!strcmp(sp_part_command(&p), known[i])) command = known[i];
    sp_jv_free(&p.doc);
    return command;
}
