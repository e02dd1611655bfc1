/* dist_mc_merge.c — `sparsa merge` of mc parts (sp_mc_merge): the parts must share the
 * version, model, task file, settings and number of parts and cover parts 0..N-1 once, each
 * holding the questions the split gives it; every question is then finished from its
 * log-likelihoods by mc's own code (mc_add_records), so the report has the bits of one run. */
#include <stdlib.h>
#include <string.h>

#include "dist_parts.h"
#include "dist_rec.h"
#include "mc_split.h"

static const sp_part_key shared_keys[] = {
    {"version", "another sparsa version"}, {"models", "another model"},
    {"settings", "other settings"}, {"task", "another task file"},
    {"parts", "another number of parts"},
};
#define N_SHARED (sizeof shared_keys / sizeof shared_keys[0])

typedef struct merge_state {
    sp_part *parts;
    size_t n_parts;
    sp_mc_set set;
    uint64_t *cost;
} merge_state;

static int read_settings(const sp_part *p, sp_mc_job *job, sp_mc_set *set, sp_error *err) {
    const sp_jv *s = sp_jv_get(&p->doc, "settings");
    const sp_jv *models = sp_part_get_array_n(&p->doc, "models", 1);
    const sp_jv *task = sp_jv_get(&p->doc, "task");
    const char *format = sp_part_get_string(s, "format"), *bos = sp_part_get_string(s, "bos");
    uint64_t limit;
    int found = 0;
    for (int f = SP_MC_HELLASWAG; format && f <= SP_MC_GENERIC; f++)
        if (!strcmp(format, sp_mc_format_name((sp_mc_format)f))) set->format = f, found = 1;
    job->model_path = models ? sp_part_get_string(&models->items[0], "path") : NULL;
    job->task_path = sp_part_get_string(task, "path");
    job->version = sp_part_get_string(&p->doc, "version");
    if (!found || !bos || sp_part_get_uint(s, "limit", &limit) || !job->model_path ||
        !job->task_path || !sp_part_get_string(&models->items[0], "sha256"))
        return sp_fail(err, SP_ERR_INPUT, "%s: bad settings, models or task", p->path);
    job->format = set->format;
    job->bos = !strcmp(bos, "prepend");
    job->limit = (size_t)limit;
    return SP_OK;
}

/* The questions as merge needs them: gold, acc_norm's byte counts, cost (no texts). */
static int read_questions(const sp_part *p, merge_state *m, sp_error *err) {
    const sp_jv *q = sp_part_get_array(sp_jv_get(&p->doc, "task"), "questions");
    if (!q) return sp_fail(err, SP_ERR_INPUT, "%s: bad task", p->path);
    m->set.items = calloc(q->n ? q->n : 1, sizeof *m->set.items);
    m->cost = calloc(q->n ? q->n : 1, sizeof *m->cost);
    if (!m->set.items || !m->cost) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < q->n; i++, m->set.n++) {
        const sp_jv *o = &q->items[i], *nb = o->type == SP_JV_ARRAY && o->n == 3 ? &o->items[2] : NULL;
        sp_mc_item *it = &m->set.items[i];
        uint64_t gold;
        if (!nb || nb->type != SP_JV_ARRAY || !nb->n || sp_part_uint_value(&o->items[0], &gold) ||
            gold >= nb->n || sp_part_uint_value(&o->items[1], &m->cost[i]))
            return sp_fail(err, SP_ERR_INPUT, "%s: bad question %zu", p->path, i + 1);
        it->norm_bytes = calloc(nb->n, sizeof *it->norm_bytes);
        if (!it->norm_bytes) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        it->n_choices = nb->n;
        it->gold = (size_t)gold;
        for (size_t c = 0; c < nb->n; c++) {
            uint64_t v;
            if (sp_part_uint_value(&nb->items[c], &v))
                return sp_fail(err, SP_ERR_INPUT, "%s: bad question %zu", p->path, i + 1);
            it->norm_bytes[c] = (size_t)v;
        }
    }
    return SP_OK;
}

/* One part's log-likelihoods, checked to be those of the questions the split gives it. */
static int add_part(const sp_part *p, const void *state, sp_strbuf *recs, sp_error *err) {
    const merge_state *m = state;
    sp_dist_range r = sp_dist_item_range(m->cost, m->set.n, p->parts, p->part);
    const sp_jv *list = sp_part_records(p, r, "questions", err);
    if (!list) return SP_ERR_INPUT;
    for (size_t i = 0; i < list->n; i++) {
        const sp_jv *ll = &list->items[i];
        if (ll->type != SP_JV_ARRAY || ll->n != m->set.items[r.first + i].n_choices)
            return sp_fail(err, SP_ERR_INPUT, "%s: record %zu does not hold one log-likelihood "
                           "per choice", p->path, i + 1);
        for (size_t c = 0; c < ll->n; c++) {
            if (ll->items[c].type != SP_JV_NUMBER)
                return sp_fail(err, SP_ERR_INPUT, "%s: record %zu holds a bad log-likelihood",
                               p->path, i + 1);
            rec_f64(recs, ll->items[c].number);
        }
    }
    return recs->oom ? sp_fail(err, SP_ERR_RUNTIME, "out of memory") : SP_OK;
}

static int finish(merge_state *m, sp_mc_merged *out, sp_error *err) {
    sp_strbuf recs = {0};
    int rc = sp_parts_gather(m->parts, m->n_parts, add_part, m, &recs, err);
    size_t n = m->set.n;
    unsigned char *hit = calloc(n ? n : 1, 1), *hit_norm = calloc(n ? n : 1, 1);
    if (!rc && (!hit || !hit_norm)) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    if (!rc) rc = mc_add_records(&out->job, &m->set, n, recs.s, recs.len, hit, hit_norm, err);
    if (!rc) {
        sp_mc_result *r = &out->res;
        r->n = n;
        r->format = m->set.format;
        sp_mc_mean_stderr(hit, n, &r->acc, &r->acc_stderr);
        sp_mc_mean_stderr(hit_norm, n, &r->acc_norm, &r->acc_norm_stderr);
    }
    free(hit);
    free(hit_norm);
    sp_sb_free(&recs);
    return rc;
}

static void state_free(merge_state *m) {
    for (size_t i = 0; m->set.items && i < m->set.n; i++) free(m->set.items[i].norm_bytes);
    free(m->set.items);
    free(m->cost);
    sp_parts_free(m->parts, m->n_parts);
    free(m);
}

int sp_mc_merge(const char *const *paths, size_t n, sp_mc_merged *out, sp_error *err) {
    memset(out, 0, sizeof *out);
    if (!n) return sp_fail(err, SP_ERR_INPUT, "no part files given");
    merge_state *m = calloc(1, sizeof *m);
    if (!m) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    int rc = sp_parts_load(paths, n, "mc", shared_keys, N_SHARED, &m->parts, err);
    if (!rc) m->n_parts = n;
    if (!rc) rc = read_settings(&m->parts[0], &out->job, &m->set, err);
    if (!rc) rc = read_questions(&m->parts[0], m, err);
    if (!rc) rc = finish(m, out, err);
    if (rc) {
        state_free(m);
        memset(out, 0, sizeof *out);
        return rc;
    }
    const sp_jv *model = &sp_part_get_array(&m->parts[0].doc, "models")->items[0];
    snprintf(out->res.model_sha256, sizeof out->res.model_sha256, "%s",
             sp_part_get_string(model, "sha256"));
    out->state = m;
    return SP_OK;
}

void sp_mc_merged_free(sp_mc_merged *out) {
    if (out->state) state_free(out->state);
    memset(out, 0, sizeof *out);
}
