/* dist_mc_part.c — one part of `mc --shard K/N` as a part file (docs/SCALING.md, "Part
 * files"): what identifies the run (the sparsa version, the model's and the task file's
 * SHA-256, the layout read, BOS, --limit, device and precision), every question's gold choice,
 * cost and acc_norm byte counts (what merge needs to finish the questions without the task
 * file), which part this is, and each of its questions' log-likelihoods in %.17g. */
#include <string.h>

#include "dist_parts.h"
#include "dist_rec.h"
#include "mc_split.h"

/* The split's measure of a question (a part records it, so merge needs no task file). */
uint64_t mc_question_cost(const sp_mc_item *it) {
    uint64_t cost = 1;
    for (size_t ch = 0; ch < it->n_choices; ch++)
        cost += strlen(it->context[ch]) + strlen(it->continuation[ch]);
    return cost;
}

static void json_str(FILE *f, const char *s) { sp_json_escape(f, s, strlen(s)); }

static int write_identity(FILE *f, const sp_mc_job *job, const sp_mc_set *set, size_t n,
                          const char *sha, sp_error *err) {
    char task_sha[65];
    int rc = sp_prov_sha256_file(job->task_path, task_sha, err);
    if (rc) return rc;
    sp_part_write_head(f, "mc", job->version, job->model_path, sha);
    fputs(",\n \"task\": {\"path\": ", f);
    json_str(f, job->task_path);
    fprintf(f, ", \"sha256\": \"%s\", \"questions\": [", task_sha);
    for (size_t i = 0; i < n; i++) {
        const sp_mc_item *it = &set->items[i];
        fprintf(f, "%s[%zu, %llu, [", i ? ",\n  " : "\n  ", it->gold,
                (unsigned long long)mc_question_cost(it));
        for (size_t c = 0; c < it->n_choices; c++)
            fprintf(f, c ? ", %zu" : "%zu", it->norm_bytes[c]);
        fputs("]]", f);
    }
    fprintf(f, "]},\n \"settings\": {\"format\": \"%s\", \"bos\": \"%s\", \"limit\": %zu, ",
            sp_mc_format_name(set->format), job->bos ? "prepend" : "none", job->limit);
    sp_prov_device_settings(f);
    fputs("},\n", f);
    return SP_OK;
}

static int write_records(FILE *f, const sp_mc_set *set, sp_dist_range r, const char *recs,
                         size_t len, sp_error *err) {
    rec_reader rd = {recs, recs + len, 0};
    fputs(" \"records\": [", f);
    for (uint64_t i = r.first; i < r.end && !rd.short_read; i++) {
        fputs(i > r.first ? ",\n  [" : "\n  [", f);
        for (size_t c = 0; c < set->items[i].n_choices; c++)
            fprintf(f, c ? ", %.17g" : "%.17g", rec_get_f64(&rd));
        fputc(']', f);
    }
    fputs("]}\n", f);
    if (rd.short_read || rd.p != rd.end)
        return sp_fail(err, SP_ERR_RUNTIME, "mc: the part's records do not match its questions");
    return SP_OK;
}

int mc_write_part(const sp_mc_job *job, const sp_mc_set *set, size_t n, const char *sha,
                  sp_dist_range r, const char *recs, size_t len, sp_error *err) {
    sp_out o;
    int rc = sp_out_open(&o, job->part_path, 0, err);
    if (rc) return rc;
    rc = write_identity(o.fp, job, set, n, sha, err);
    if (!rc) {
        sp_part_write_range(o.fp, job->shard, job->shards, r);
        rc = write_records(o.fp, set, r, recs, len, err);
    }
    if (!rc) rc = sp_out_commit(&o, err);
    sp_out_abort(&o);
    return rc;
}
