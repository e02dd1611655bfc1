/* dist_merge.c — `sparsa merge`: part files of a split perplexity run (dist_part.c) checked
 * and joined into the report a single run prints (sp_ppl_merge). The parts must share the
 * version, model, corpora and settings and cover parts 0..N-1 exactly once, each holding the
 * windows sp_dist_split gives it. A run is then rebuilt from them (its units, window sums and
 * provenance) and reduced and reported by the run's own functions (sp_ppl_reduce_all,
 * sp_ppl_report), so the report is the one a single run prints, with the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "ppl_job.h"
#include "sparsa_workbench.h"

#define PART_MAX_BYTES ((uint64_t)4 << 30)

typedef struct part {
    const char *path;
    sp_jv doc;
    uint64_t part, parts, first, end;
} part;

/* Keys that must be equal in every part, and how a difference is named. */
static const struct { const char *key, *what; } shared_keys[] = {
    {"version", "another sparsa version"}, {"models", "another model"},
    {"corpora", "other corpora"},
    {"settings", "other settings"}, {"parts", "another number of parts"},
    {"windows", "other windows"},
};

static int jv_equal(const sp_jv *a, const sp_jv *b) {
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

/* A non-negative integer (exact in a double). */
static int uint_value(const sp_jv *v, uint64_t *out) {
    if (!v || v->type != SP_JV_NUMBER || v->number < 0 || v->number > 9007199254740992.0 ||
        v->number != floor(v->number))
        return SP_ERR_INPUT;
    *out = (uint64_t)v->number;
    return SP_OK;
}

static int get_uint(const sp_jv *o, const char *key, uint64_t *out) {
    return uint_value(sp_jv_get(o, key), out);
}

static int read_part(const char *path, part *p, sp_error *err) {
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
        return sp_fail(err, SP_ERR_INPUT, "%s is not a part file of perplexity --shard", path);
    for (size_t k = 0; k < sizeof shared_keys / sizeof shared_keys[0]; k++)
        if (!sp_jv_get(&p->doc, shared_keys[k].key))
            return sp_fail(err, SP_ERR_INPUT, "%s: no \"%s\"", path, shared_keys[k].key);
    if (get_uint(&p->doc, "part", &p->part) || get_uint(&p->doc, "parts", &p->parts) ||
        get_uint(&p->doc, "first", &p->first) || get_uint(&p->doc, "end", &p->end) ||
        p->parts == 0 || p->part >= p->parts || p->end < p->first)
        return sp_fail(err, SP_ERR_INPUT, "%s: bad part, parts, first or end", path);
    return SP_OK;
}

/* Every part like the first; every part number once, none missing. */
static int check_together(part *parts, size_t n, sp_error *err) {
    for (size_t i = 1; i < n; i++)
        for (size_t k = 0; k < sizeof shared_keys / sizeof shared_keys[0]; k++) {
            const char *key = shared_keys[k].key;
            if (!jv_equal(sp_jv_get(&parts[0].doc, key), sp_jv_get(&parts[i].doc, key)))
                return sp_fail(err, SP_ERR_INPUT, "%s is a part of %s than %s (\"%s\" differs)",
                               parts[i].path, shared_keys[k].what, parts[0].path, key);
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
            rc = sp_fail(err, SP_ERR_INPUT, "part %llu/%llu is missing (run perplexity with "
                         "--shard %llu/%llu)", (unsigned long long)k, (unsigned long long)total,
                         (unsigned long long)k, (unsigned long long)total);
    free(seen);
    return rc;
}


/* A member that must be an array (of n items, with get_array_n). */
static const sp_jv *get_array(const sp_jv *o, const char *key) {
    const sp_jv *v = sp_jv_get(o, key);
    return v && v->type == SP_JV_ARRAY ? v : NULL;
}

static const sp_jv *get_array_n(const sp_jv *o, const char *key, size_t n) {
    const sp_jv *v = get_array(o, key);
    return v && v->n == n ? v : NULL;
}

static const char *get_string(const sp_jv *o, const char *key) {
    const sp_jv *v = sp_jv_get(o, key);
    return v && v->type == SP_JV_STRING ? v->str : NULL;
}

/* The protocol as the part names it (the names sp_score_name and sp_bos_name print). */
static int read_protocol(const sp_jv *set, sp_ppl_protocol *p) {
    const char *score = get_string(set, "score"), *bos = get_string(set, "bos");
    const char *docs = get_string(set, "docs");
    uint64_t stride;
    if (!score || !bos || !docs || get_uint(set, "stride", &stride)) return SP_ERR_INPUT;
    int found = 0;
    for (int m = SP_SCORE_ALL; m <= SP_SCORE_ROLLING; m++)
        if (!strcmp(score, sp_score_name((sp_score_mode)m))) p->score = (sp_score_mode)m, found++;
    for (int b = SP_BOS_NONE; b <= SP_BOS_REPLACE; b++)
        if (!strcmp(bos, sp_bos_name((sp_bos_mode)b))) p->bos = (sp_bos_mode)b, found++;
    p->stride = (size_t)stride;
    p->docs = !strcmp(docs, "lines") ? SP_DOCS_LINES : SP_DOCS_FILES;
    return found == 2 ? SP_OK : SP_ERR_INPUT;
}

/* The settings, models and corpora of the first part, as a run's job and provenance. */
static int rebuild_job(const part *p, sp_ppl_run *run, sp_error *err) {
    const sp_jv *set = sp_jv_get(&p->doc, "settings");
    const sp_jv *models = get_array(&p->doc, "models");
    const sp_jv *corpora = get_array(&p->doc, "corpora");
    const sp_jv *ctx = get_array(set, "ctx");
    uint64_t max_tokens, by_position, buckets;
    if (!set || !models || !models->n || !corpora || !corpora->n || !ctx || !ctx->n ||
        read_protocol(set, &run->job.protocol) || get_uint(set, "max_tokens", &max_tokens) ||
        get_uint(set, "by_position", &by_position) || get_uint(set, "buckets", &buckets))
        return sp_fail(err, SP_ERR_INPUT, "%s: bad settings, models or corpora", p->path);
    run->n_models = models->n;
    run->n_ctx = ctx->n;
    run->job.n_corpora = corpora->n;
    run->model_paths = calloc(models->n, sizeof *run->model_paths);
    run->model_sha = calloc(models->n, sizeof *run->model_sha);
    run->ctx = calloc(ctx->n, sizeof *run->ctx);
    run->corpora = calloc(corpora->n, sizeof *run->corpora);
    const char **names = calloc(corpora->n, sizeof *names);
    run->job.corpora = names;
    if (!run->model_paths || !run->model_sha || !run->ctx || !run->corpora || !names)
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t m = 0; m < models->n; m++) {
        run->model_paths[m] = get_string(&models->items[m], "path");
        run->model_sha[m] = get_string(&models->items[m], "sha256");
        if (!run->model_paths[m] || !run->model_sha[m])
            return sp_fail(err, SP_ERR_INPUT, "%s: bad models", p->path);
    }
    for (size_t c = 0; c < ctx->n; c++) {
        uint64_t v;
        if (uint_value(&ctx->items[c], &v) || !v)
            return sp_fail(err, SP_ERR_INPUT, "%s: bad ctx", p->path);
        run->ctx[c] = (size_t)v;
    }
    for (size_t f = 0; f < corpora->n; f++) {
        sp_ppl_corpus *c = &run->corpora[f];
        const sp_jv *o = &corpora->items[f];
        uint64_t words, bytes;
        c->path = names[f] = get_string(o, "file");
        if (!c->path || get_uint(o, "words", &words) || get_uint(o, "bytes", &bytes))
            return sp_fail(err, SP_ERR_INPUT, "%s: bad corpora", p->path);
        c->words = words;
        c->bytes = bytes;
    }
    run->job.model_path = run->model_paths[0];
    run->job.ctx = run->ctx;
    run->job.n_ctx = run->n_ctx;
    run->job.max_tokens = (size_t)max_tokens;
    run->job.by_position = (size_t)by_position;
    run->job.version = get_string(&p->doc, "version");
    run->n_buckets = (size_t)buckets;
    return SP_OK;
}

/* Units in run order with their windows; the arrays the reduction reads and writes. */
static int rebuild_units(const part *p, sp_ppl_run *run, sp_error *err) {
    size_t nf = run->job.n_corpora, n = run->n_ctx * nf, nm = run->n_models;
    const sp_jv *win = get_array_n(&p->doc, "windows", n);
    if (!win) return sp_fail(err, SP_ERR_INPUT, "%s: bad windows", p->path);
    run->units = calloc(n ? n : 1, sizeof *run->units);
    if (!run->units) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t u = 0; u < n; u++) {
        uint64_t w;
        if (uint_value(&win->items[u], &w))
            return sp_fail(err, SP_ERR_INPUT, "%s: bad windows", p->path);
        run->units[u] = (sp_ppl_unit){.ctx = run->ctx[u / nf], .file = u % nf,
                                      .windows = (size_t)w, .first = run->total_windows};
        run->total_windows += w;
    }
    size_t n_rows = nm * run->n_ctx * (nf + 1);
    run->sums = calloc(nm * run->total_windows + 1, sizeof *run->sums);
    run->rows = calloc(n_rows, sizeof *run->rows);
    run->wbuckets = calloc(nm * run->total_windows * run->n_buckets + 1, sizeof *run->wbuckets);
    run->row_buckets = calloc(n_rows * run->n_buckets + 1, sizeof *run->row_buckets);
    if (!run->sums || !run->rows || !run->wbuckets || !run->row_buckets)
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    return SP_OK;
}

static int number_list(const sp_jv *v, size_t n, double *out) {
    if (v->type != SP_JV_ARRAY || v->n != n) return SP_ERR_INPUT;
    for (size_t i = 0; i < n; i++) {
        if (v->items[i].type != SP_JV_NUMBER) return SP_ERR_INPUT;
        out[i] = v->items[i].number;
    }
    return SP_OK;
}

/* A part's windows, checked to be the ones sp_dist_split gives it, at their places. */
static int place_part(const part *p, sp_ppl_run *run, sp_error *err) {
    sp_dist_range r = sp_ppl_part_range(run, p->part, p->parts);
    size_t nm = run->n_models, count = (size_t)(p->end - p->first);
    const sp_jv *sums = get_array_n(&p->doc, "sums", nm);
    const sp_jv *buckets = get_array_n(&p->doc, "buckets", run->n_buckets ? nm : 0);
    if (r.first != p->first || r.end != p->end || !sums || !buckets)
        return sp_fail(err, SP_ERR_INPUT, "%s does not hold the windows of part %llu/%llu",
                       p->path, (unsigned long long)p->part, (unsigned long long)p->parts);
    for (size_t m = 0; m < nm; m++) {
        const sp_jv *list = &sums->items[m];
        if (list->type != SP_JV_ARRAY || list->n != count)
            return sp_fail(err, SP_ERR_INPUT, "%s: \"sums\" of model %zu do not hold %zu windows",
                           p->path, m, count);
        for (size_t i = 0; i < count; i++) {
            double v[3];
            if (number_list(&list->items[i], 3, v))
                return sp_fail(err, SP_ERR_INPUT, "%s: window sum %zu is not [n, sum, sum of "
                               "squares]", p->path, i);
            run->sums[m * run->total_windows + p->first + i] = (sp_ppl_wsum){(uint64_t)v[0],
                                                                              v[1], v[2]};
        }
        for (size_t i = 0; run->n_buckets && i < count; i++) {
            const sp_jv *w = buckets->items[m].type == SP_JV_ARRAY &&
                             buckets->items[m].n == count ? &buckets->items[m].items[i] : NULL;
            sp_ppl_bucket *b = run->wbuckets +
                               (m * run->total_windows + p->first + i) * run->n_buckets;
            if (!w || w->type != SP_JV_ARRAY || w->n != run->n_buckets)
                return sp_fail(err, SP_ERR_INPUT, "%s: bad buckets of window %zu", p->path, i);
            for (size_t k = 0; k < run->n_buckets; k++) {
                double v[2];
                if (number_list(&w->items[k], 2, v))
                    return sp_fail(err, SP_ERR_INPUT, "%s: bad buckets of window %zu", p->path, i);
                b[k].tokens = (uint64_t)v[0];
                b[k].nll_sum = v[1];
            }
        }
    }
    return SP_OK;
}

static void run_release(sp_ppl_run *run) {
    free(run->model_paths);
    free(run->model_sha);
    free(run->ctx);
    free(run->corpora);
    free((void *)run->job.corpora);
    free(run->units);
    free(run->sums);
    free(run->rows);
    free(run->wbuckets);
    free(run->row_buckets);
}

static int report(const part *parts, size_t n, FILE *out, int json, sp_error *err) {
    sp_ppl_run run;
    memset(&run, 0, sizeof run);
    int rc = rebuild_job(&parts[0], &run, err);
    if (!rc) rc = rebuild_units(&parts[0], &run, err);
    for (size_t i = 0; i < n && !rc; i++) rc = place_part(&parts[i], &run, err);
    if (!rc) rc = sp_ppl_reduce_all(&run, err);
    if (!rc) sp_ppl_report(&run, out, json);
    run_release(&run);
    return rc;
}

int sp_ppl_merge(const char *const *paths, size_t n, FILE *out, int json, sp_error *err) {
    if (!n) return sp_fail(err, SP_ERR_INPUT, "no part files given");
    part *parts = calloc(n, sizeof *parts);
    if (!parts) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    int rc = SP_OK;
    for (size_t i = 0; i < n && !rc; i++) rc = read_part(paths[i], &parts[i], err);
    if (!rc) rc = check_together(parts, n, err);
    if (!rc) rc = report(parts, n, out, json, err);
    for (size_t i = 0; i < n; i++) sp_jv_free(&parts[i].doc);
    free(parts);
    return rc;
}
