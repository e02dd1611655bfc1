/* dist_parts.c — part files of a split run read back and checked to belong together
 * (dist_parts.h): the file parsed as JSON, its command, the members every part of one run
 * shares, and parts 0..N-1 each given exactly once; their records gathered in part order; and
 * the head and range lines eval-task and mc part files share. */
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

int sp_parts_load(const char *const *paths, size_t n, const char *command,
                  const sp_part_key *keys, size_t n_keys, sp_part **out, sp_error *err) {
    *out = NULL;
    sp_part *parts = calloc(n ? n : 1, sizeof *parts);
    if (!parts) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    int rc = SP_OK;
    size_t n_read = 0;
    for (; n_read < n && !rc; n_read++)
        rc = sp_part_read(paths[n_read], command, keys, n_keys, &parts[n_read], err);
    if (!rc) rc = sp_parts_check(parts, n, command, keys, n_keys, err);
    if (rc) {
        sp_parts_free(parts, n_read);
        return rc;
    }
    *out = parts;
    return SP_OK;
}

void sp_parts_free(sp_part *parts, size_t n) {
    for (size_t i = 0; parts && i < n; i++) sp_jv_free(&parts[i].doc);
    free(parts);
}

int sp_parts_gather(const sp_part *parts, size_t n, sp_part_add_fn add, const void *state,
                    sp_strbuf *recs, sp_error *err) {
    int rc = SP_OK;
    for (uint64_t k = 0; k < parts[0].parts && !rc; k++)
        for (size_t i = 0; i < n && !rc; i++)
            if (parts[i].part == k) rc = add(&parts[i], state, recs, err);
    return rc;
}

const sp_jv *sp_part_records(const sp_part *p, sp_dist_range r, const char *what,
                             sp_error *err) {
    const sp_jv *list = sp_part_get_array_n(&p->doc, "records", (size_t)(p->end - p->first));
    if (r.first != p->first || r.end != p->end || !list) {
        sp_fail(err, SP_ERR_INPUT, "%s does not hold the %s of part %llu/%llu", p->path, what,
                (unsigned long long)p->part, (unsigned long long)p->parts);
        return NULL;
    }
    return list;
}

static void json_str(FILE *f, const char *s) { sp_json_escape(f, s, strlen(s)); }

void sp_part_write_head(FILE *f, const char *command, const char *version,
                        const char *model_path, const char *model_sha256) {
    fprintf(f, "{\"sparsa_part\": 1, \"command\": \"%s\", \"version\": ", command);
    json_str(f, version ? version : "");
    fputs(",\n \"models\": [{\"path\": ", f);
    json_str(f, model_path);
    fprintf(f, ", \"sha256\": \"%s\"}]", model_sha256);
}

void sp_part_write_range(FILE *f, uint64_t part, uint64_t parts, sp_dist_range r) {
    fprintf(f, " \"part\": %llu, \"parts\": %llu, \"first\": %llu, \"end\": %llu,\n",
            (unsigned long long)part, (unsigned long long)parts, (unsigned long long)r.first,
            (unsigned long long)r.end);
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
