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
#include "dist_parts.h"
#include "ppl_job.h"
#include "sparsa_workbench.h"

/* Members that must be equal in every part, and how a difference is named. */
static const sp_part_key shared_keys[] = {
    {"version", "another sparsa version"}, {"models", "another model"},
    {"corpora", "other corpora"},
    {"settings", "other settings"}, {"parts", "another number of parts"},
    {"windows", "other windows"},
};
#define N_SHARED (sizeof shared_keys / sizeof shared_keys[0])

/* The protocol as the part names it (the names sp_score_name and sp_bos_name print). */
static int read_protocol(const sp_jv *set, sp_ppl_protocol *p) {
    const char *score = sp_part_get_string(set, "score"), *bos = sp_part_get_string(set, "bos");
    const char *docs = sp_part_get_string(set, "docs");
    uint64_t stride;
    if (!score || !bos || !docs || sp_part_get_uint(set, "stride", &stride)) return SP_ERR_INPUT;
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
static int rebuild_job(const sp_part *p, sp_ppl_run *run, sp_error *err) {
    const sp_jv *set = sp_jv_get(&p->doc, "settings");
    const sp_jv *models = sp_part_get_array(&p->doc, "models");
    const sp_jv *corpora = sp_part_get_array(&p->doc, "corpora");
    const sp_jv *ctx = sp_part_get_array(set, "ctx");
    uint64_t max_tokens, by_position, buckets;
    if (!set || !models || !models->n || !corpora || !corpora->n || !ctx || !ctx->n ||
        read_protocol(set, &run->job.protocol) || sp_part_get_uint(set, "max_tokens", &max_tokens) ||
        sp_part_get_uint(set, "by_position", &by_position) || sp_part_get_uint(set, "buckets", &buckets))
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
        run->model_paths[m] = sp_part_get_string(&models->items[m], "path");
        run->model_sha[m] = sp_part_get_string(&models->items[m], "sha256");
        if (!run->model_paths[m] || !run->model_sha[m])
            return sp_fail(err, SP_ERR_INPUT, "%s: bad models", p->path);
    }
    for (size_t c = 0; c < ctx->n; c++) {
        uint64_t v;
        if (sp_part_uint_value(&ctx->items[c], &v) || !v)
            return sp_fail(err, SP_ERR_INPUT, "%s: bad ctx", p->path);
        run->ctx[c] = (size_t)v;
    }
    for (size_t f = 0; f < corpora->n; f++) {
        sp_ppl_corpus *c = &run->corpora[f];
        const sp_jv *o = &corpora->items[f];
        uint64_t words, bytes;
        c->path = names[f] = sp_part_get_string(o, "file");
        if (!c->path || sp_part_get_uint(o, "words", &words) || sp_part_get_uint(o, "bytes", &bytes))
            return sp_fail(err, SP_ERR_INPUT, "%s: bad corpora", p->path);
        c->words = words;
        c->bytes = bytes;
    }
    run->job.model_path = run->model_paths[0];
    run->job.ctx = run->ctx;
    run->job.n_ctx = run->n_ctx;
    run->job.max_tokens = (size_t)max_tokens;
    run->job.by_position = (size_t)by_position;
    run->job.version = sp_part_get_string(&p->doc, "version");
    run->n_buckets = (size_t)buckets;
    return SP_OK;
}

/* Units in run order with their windows; the arrays the reduction reads and writes. */
static int rebuild_units(const sp_part *p, sp_ppl_run *run, sp_error *err) {
    size_t nf = run->job.n_corpora, n = run->n_ctx * nf, nm = run->n_models;
    const sp_jv *win = sp_part_get_array_n(&p->doc, "windows", n);
    if (!win) return sp_fail(err, SP_ERR_INPUT, "%s: bad windows", p->path);
    run->units = calloc(n ? n : 1, sizeof *run->units);
    if (!run->units) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t u = 0; u < n; u++) {
        uint64_t w;
        if (sp_part_uint_value(&win->items[u], &w))
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
static int place_part(const sp_part *p, sp_ppl_run *run, sp_error *err) {
    sp_dist_range r = sp_ppl_part_range(run, p->part, p->parts);
    size_t nm = run->n_models, count = (size_t)(p->end - p->first);
    const sp_jv *sums = sp_part_get_array_n(&p->doc, "sums", nm);
    const sp_jv *buckets = sp_part_get_array_n(&p->doc, "buckets", run->n_buckets ? nm : 0);
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

static int report(const sp_part *parts, size_t n, FILE *out, int json, sp_error *err) {
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
    sp_part *parts;
    int rc = sp_parts_load(paths, n, "perplexity", shared_keys, N_SHARED, &parts, err);
    if (rc) return rc;
    rc = report(parts, n, out, json, err);
    sp_parts_free(parts, n);
    return rc;
}
