/* dist_task_part.c — one part of `eval-task --shard K/N` as a part file (docs/SCALING.md,
 * "Part files"): what identifies the run (the sparsa version, the model's and every src/trg
 * file's SHA-256, the layout, --limit, device and precision), the samples of each set, which
 * part this is and its range of samples, and one record per sample of the range: [correct,
 * seconds, [generated ids]]. sp_task_merge (dist_task_merge.c) reads them back. */
#include <string.h>

#include "dist_parts.h"
#include "dist_rec.h"
#include "dist_task.h"

static void json_str(FILE *f, const char *s) { sp_json_escape(f, s, strlen(s)); }

static int write_file_entry(FILE *f, const char *key, const char *path, sp_error *err) {
    char hex[65];
    int rc = sp_prov_sha256_file(path, hex, err);
    if (rc) return rc;
    fprintf(f, "\"%s\": ", key);
    json_str(f, path);
    fprintf(f, ", \"%s_sha256\": \"%s\"", key, hex);
    return SP_OK;
}

/* Models, sets and settings: what every part of one run must share. */
static int write_identity(FILE *f, const sp_task_job *job, sp_error *err) {
    char hex[65];
    int rc = sp_prov_sha256_file(job->model_path, hex, err);
    if (rc) return rc;
    sp_part_write_head(f, "eval-task", job->version, job->model_path, hex);
    fputs(",\n \"sets\": [", f);
    for (size_t s = 0; s < job->n_sets && !rc; s++) {
        fputs(s ? ",\n  {" : "\n  {", f);
        rc = write_file_entry(f, "src", job->sets[s].src_path, err);
        if (!rc) fputs(", ", f);
        if (!rc) rc = write_file_entry(f, "trg", job->trg_paths[s], err);
        fprintf(f, ", \"samples\": %zu, \"src_len\": [", job->sets[s].samples);
        for (size_t i = 0; i < job->sets[s].samples; i++)
            fprintf(f, i ? ", %zu" : "%zu", job->sets[s].src_len[i]);
        fputs("]}", f);
    }
    if (rc) return rc;
    const sp_task_layout *l = job->layout;
    fprintf(f, "],\n \"settings\": {\"bos\": %d, \"eos\": %d, \"sep\": %d, \"multiplier\": "
            "%.17g, \"limit\": %zu, ", (int)l->bos, (int)l->eos, (int)l->sep, l->multiplier,
            job->limit);
    sp_prov_device_settings(f);
    fputs("},\n", f);
    return SP_OK;
}

/* The part's records as JSON: [correct, seconds, [ids]] per sample. */
static int write_records(FILE *f, const char *recs, size_t len, sp_error *err) {
    rec_reader rd = {recs, recs + len, 0};
    fputs(" \"records\": [", f);
    for (size_t i = 0; rd.p < rd.end && !rd.short_read; i++) {
        int ok = rec_get_u8(&rd) != 0;
        double seconds = rec_get_f64(&rd);
        uint64_t n = rec_get_u64(&rd);
        fprintf(f, "%s[%d, %.6f, [", i ? ",\n  " : "\n  ", ok, seconds);
        for (uint64_t j = 0; j < n && !rd.short_read; j++) {
            int32_t id;
            rec_get(&rd, &id, sizeof id);
            fprintf(f, j ? ", %d" : "%d", (int)id);
        }
        fputs("]]", f);
    }
    fputs("]}\n", f);
    if (rd.short_read) return sp_fail(err, SP_ERR_RUNTIME, "eval-task: a short record");
    return SP_OK;
}

int sp_task_write_part(const sp_task_job *job, const sp_ppl_split *split, uint64_t part,
                       uint64_t parts, sp_dist_range r, const char *recs, size_t len,
                       sp_error *err) {
    sp_out o;
    int rc = sp_out_open(&o, split->part_path, 0, err);
    if (rc) return rc;
    rc = write_identity(o.fp, job, err);
    if (!rc) {
        sp_part_write_range(o.fp, part, parts, r);
        rc = write_records(o.fp, recs, len, err);
    }
    if (!rc) rc = sp_out_commit(&o, err);
    sp_out_abort(&o);
    return rc;
}
