/* dist_task_merge.c — `sparsa merge` of eval-task parts (sp_task_merge): the parts must share
 * the version, model, sets, settings and number of parts and cover parts 0..N-1 once, each
 * holding the samples the split gives it; their records are then added by the run's own
 * function (sp_task_add_records), so every row has the bits of one eval-task run. */
#include <stdlib.h>
#include <string.h>

#include "dist_parts.h"
#include "dist_rec.h"
#include "dist_task.h"
#include "task_progress.h"

static const sp_part_key shared_keys[] = {
    {"version", "another sparsa version"}, {"models", "another model"},
    {"settings", "other settings"}, {"sets", "other src/trg files"},
    {"parts", "another number of parts"},
};
#define N_SHARED (sizeof shared_keys / sizeof shared_keys[0])

typedef struct merge_state {
    sp_part *parts;
    size_t n_parts;
    sp_task_set *sets;
    const char **src, **trg;
    sp_task_layout layout;
    sp_task_job job;
    sp_task_result *rows;
} merge_state;

static int read_number(const sp_jv *o, const char *key, double *out) {
    const sp_jv *v = sp_jv_get(o, key);
    if (!v || v->type != SP_JV_NUMBER) return SP_ERR_INPUT;
    *out = v->number;
    return SP_OK;
}

/* The layout and --limit from "settings" (ids as signed numbers: sep -1 is none). */
static int read_settings(const sp_part *p, merge_state *m, sp_error *err) {
    const sp_jv *set = sp_jv_get(&p->doc, "settings");
    double bos, eos, sep, mult;
    uint64_t limit;
    if (!set || read_number(set, "bos", &bos) || read_number(set, "eos", &eos) ||
        read_number(set, "sep", &sep) || read_number(set, "multiplier", &mult) ||
        sp_part_get_uint(set, "limit", &limit) || !(mult > 0) || bos < 0 || eos < 0 ||
        bos > INT32_MAX || eos > INT32_MAX || sep < -1 || sep > INT32_MAX)
        return sp_fail(err, SP_ERR_INPUT, "%s: bad settings", p->path);
    m->layout = (sp_task_layout){(int32_t)bos, (int32_t)eos, (int32_t)sep, mult};
    m->job.limit = (size_t)limit;
    return SP_OK;
}

/* The sets as the split sees them: samples and source lengths (no ids are needed). */
static int read_sets(const sp_part *p, merge_state *m, sp_error *err) {
    const sp_jv *sets = sp_part_get_array(&p->doc, "sets");
    const sp_jv *models = sp_part_get_array_n(&p->doc, "models", 1);
    if (!sets || !sets->n || sets->n > 64 || !models)
        return sp_fail(err, SP_ERR_INPUT, "%s: bad sets or models", p->path);
    size_t n = sets->n;
    m->sets = calloc(n, sizeof *m->sets);
    m->src = calloc(n, sizeof *m->src);
    m->trg = calloc(n, sizeof *m->trg);
    m->rows = calloc(n, sizeof *m->rows);
    if (!m->sets || !m->src || !m->trg || !m->rows)
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t s = 0; s < n; s++) {
        const sp_jv *o = &sets->items[s];
        uint64_t samples;
        m->src[s] = sp_part_get_string(o, "src");
        m->trg[s] = sp_part_get_string(o, "trg");
        const sp_jv *lens = sp_part_get_array(o, "src_len");
        if (!m->src[s] || !m->trg[s] || sp_part_get_uint(o, "samples", &samples) || !lens ||
            lens->n != samples)
            return sp_fail(err, SP_ERR_INPUT, "%s: bad set %zu", p->path, s + 1);
        sp_task_set *t = &m->sets[s];
        t->samples = lens->n;
        t->src_path = m->src[s];
        t->src_len = calloc(lens->n ? lens->n : 1, sizeof *t->src_len);
        if (!t->src_len) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        for (size_t i = 0; i < lens->n; i++) {
            uint64_t v;
            if (sp_part_uint_value(&lens->items[i], &v) || v > ((uint64_t)1 << 40))
                return sp_fail(err, SP_ERR_INPUT, "%s: bad src_len in set %zu", p->path, s + 1);
            t->src_len[i] = (size_t)v;
            size_t cost = task_sample_cost(&m->layout, t->src_len[i]);
            if (cost > m->job.capacity) m->job.capacity = cost;
        }
    }
    m->job.model_path = sp_part_get_string(&models->items[0], "path");
    if (!m->job.model_path || !sp_part_get_string(&models->items[0], "sha256"))
        return sp_fail(err, SP_ERR_INPUT, "%s: bad models", p->path);
    m->job.layout = &m->layout;
    m->job.sets = m->sets;
    m->job.trg_paths = m->trg;
    m->job.n_sets = n;
    return SP_OK;
}

/* One part's records, checked to be the samples the split gives it, as binary records. */
static int add_part(const sp_part *p, const void *state, sp_strbuf *recs, sp_error *err) {
    const merge_state *m = state;
    sp_dist_range r = sp_task_part_range(&m->job, p->part, p->parts);
    const sp_jv *list = sp_part_records(p, r, "samples", err);
    if (!list) return SP_ERR_INPUT;
    for (size_t i = 0; i < list->n; i++) {
        const sp_jv *rec = &list->items[i];
        const sp_jv *ids = rec->type == SP_JV_ARRAY && rec->n == 3 ? &rec->items[2] : NULL;
        uint64_t ok;
        if (!ids || ids->type != SP_JV_ARRAY || ids->n > m->job.capacity ||
            sp_part_uint_value(&rec->items[0], &ok) || ok > 1 ||
            rec->items[1].type != SP_JV_NUMBER)
            return sp_fail(err, SP_ERR_INPUT, "%s: record %zu is not [correct, seconds, [ids]]",
                           p->path, i + 1);
        rec_u8(recs, (unsigned char)ok);
        rec_f64(recs, rec->items[1].number);
        rec_u64(recs, ids->n);
        for (size_t j = 0; j < ids->n; j++) {
            uint64_t id;
            if (sp_part_uint_value(&ids->items[j], &id) || id > INT32_MAX)
                return sp_fail(err, SP_ERR_INPUT, "%s: record %zu holds a bad id", p->path, i + 1);
            int32_t v = (int32_t)id;
            rec_put(recs, &v, sizeof v);
        }
    }
    return recs->oom ? sp_fail(err, SP_ERR_RUNTIME, "out of memory") : SP_OK;
}

static void keep_row(void *user, size_t i, const sp_task_result *r) {
    ((merge_state *)user)->rows[i] = *r;
}

/* Records in part order (each part once, checked before), added as one run adds them. */
static int add_all(merge_state *m, sp_error *err) {
    sp_strbuf recs = {0};
    int rc = sp_parts_gather(m->parts, m->n_parts, add_part, m, &recs, err);
    if (!rc) rc = sp_task_add_records(&m->job, recs.s, recs.len, NULL, keep_row, m, err);
    sp_sb_free(&recs);
    return rc;
}

static void state_free(merge_state *m) {
    for (size_t s = 0; m->sets && s < m->job.n_sets; s++) free(m->sets[s].src_len);
    free(m->sets);
    free(m->src);
    free(m->trg);
    free(m->rows);
    sp_parts_free(m->parts, m->n_parts);
    memset(m, 0, sizeof *m);
}

int sp_task_merge(const char *const *paths, size_t n, sp_task_merged *out, sp_error *err) {
    memset(out, 0, sizeof *out);
    if (!n) return sp_fail(err, SP_ERR_INPUT, "no part files given");
    merge_state *m = calloc(1, sizeof *m);
    if (!m) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    int rc = sp_parts_load(paths, n, "eval-task", shared_keys, N_SHARED, &m->parts, err);
    if (!rc) m->n_parts = n;
    if (!rc) rc = read_settings(&m->parts[0], m, err);
    if (!rc) rc = read_sets(&m->parts[0], m, err);
    if (!rc) rc = add_all(m, err);
    if (rc) {
        state_free(m);
        free(m);
        return rc;
    }
    const sp_jv *model = &sp_part_get_array(&m->parts[0].doc, "models")->items[0];
    *out = (sp_task_merged){.model_path = m->job.model_path, .layout = &m->layout,
                            .limit = m->job.limit, .n_sets = m->job.n_sets, .src = m->src,
                            .trg = m->trg, .rows = m->rows, .state = m};
    snprintf(out->model_sha256, sizeof out->model_sha256, "%s",
             sp_part_get_string(model, "sha256"));
    return SP_OK;
}

void sp_task_merged_free(sp_task_merged *out) {
    if (out->state) {
        state_free(out->state);
        free(out->state);
    }
    memset(out, 0, sizeof *out);
}
