/* dist_part.c — one part of a split perplexity run written as a partial result
 * (sp_ppl_write_part; docs/SCALING.md, "Part files"): what identifies the run (the sparsa
 * version, each model's and corpus's SHA-256, every setting that affects the numbers), the
 * shape of the run (windows per context length and file), which part this is, and the sums
 * of its windows, doubles printed with %.17g so that they read back to the same bits. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "ppl_job.h"


static void json_str(FILE *f, const char *s) { sp_json_escape(f, s, strlen(s)); }

/* Models, corpora and settings: what every part of one run must share. */
static int write_identity(FILE *f, const sp_ppl_run *run, const char *version, sp_error *err) {
    fputs("{\"sparsa_part\": 1, \"version\": ", f);
    json_str(f, version ? version : "");
    fputs(",\n \"models\": [", f);
    for (size_t m = 0; m < run->n_models; m++) {
        fputs(m ? ", {\"path\": " : "{\"path\": ", f);
        json_str(f, run->model_paths[m]);
        fprintf(f, ", \"sha256\": \"%s\"}", run->model_sha[m]);
    }
    fputs("],\n \"corpora\": [", f);
    for (size_t i = 0; i < run->job.n_corpora; i++) {
        char hex[65];
        const sp_ppl_corpus *c = &run->corpora[i];
        int rc = sp_prov_sha256_file(c->path, hex, err);
        if (rc) return rc;
        fputs(i ? ",\n  {\"file\": " : "\n  {\"file\": ", f);
        json_str(f, c->path);
        fprintf(f, ", \"sha256\": \"%s\", \"tokens\": %zu, \"words\": %llu, \"bytes\": %llu}",
                hex, c->n, (unsigned long long)c->words, (unsigned long long)c->bytes);
    }
    const sp_ppl_protocol *p = &run->job.protocol;
    fprintf(f, "],\n \"settings\": {\"score\": \"%s\", \"bos\": \"%s\", \"stride\": %zu, "
            "\"docs\": \"%s\", \"ctx\": [", sp_score_name(p->score), sp_bos_name(p->bos),
            p->stride, p->docs == SP_DOCS_LINES ? "lines" : "files");
    for (size_t c = 0; c < run->n_ctx; c++) fprintf(f, c ? ", %zu" : "%zu", run->ctx[c]);
    /* The device kind and precision: a merge never mixes results of different back ends. */
    fprintf(f, "], \"max_tokens\": %zu, \"max_bytes\": %llu, \"by_position\": %zu, "
            "\"buckets\": %zu, ", run->job.max_tokens, (unsigned long long)run->job.max_bytes,
            run->job.by_position, run->n_buckets);
    sp_prov_device_settings(f);
    fputs("},\n", f);
    return SP_OK;
}

/* Per model, the part's windows: [n, Σ nll, Σ nll²] each, then (--by-position) each window's
 * buckets as [tokens, Σ nll]. */
static void write_sums(FILE *f, const sp_ppl_run *run, sp_dist_range r) {
    uint64_t part, parts;
    sp_ppl_chosen_part(&part, &parts);
    fprintf(f, " \"part\": %llu, \"parts\": %llu, \"windows\": [", (unsigned long long)part,
            (unsigned long long)parts);
    for (size_t u = 0; u < run->n_ctx * run->job.n_corpora; u++)
        fprintf(f, u ? ", %zu" : "%zu", run->units[u].windows);
    fprintf(f, "],\n \"first\": %llu, \"end\": %llu,\n \"sums\": [", (unsigned long long)r.first,
            (unsigned long long)r.end);
    for (size_t m = 0; m < run->n_models; m++) {
        fputs(m ? ",\n  [" : "\n  [", f);
        for (uint64_t g = r.first; g < r.end; g++) {
            const sp_ppl_wsum *w = &run->sums[m * run->total_windows + g];
            fprintf(f, "%s[%llu, %.17g, %.17g]", g > r.first ? ",\n   " : "\n   ",
                    (unsigned long long)w->n, w->s, w->sq);
        }
        fputc(']', f);
    }
    fputs("],\n \"buckets\": [", f);
    for (size_t m = 0; run->n_buckets && m < run->n_models; m++) {
        fputs(m ? ",\n  [" : "\n  [", f);
        for (uint64_t g = r.first; g < r.end; g++) {
            const sp_ppl_bucket *b = run->wbuckets + (m * run->total_windows + g) * run->n_buckets;
            fputs(g > r.first ? ",\n   [" : "\n   [", f);
            for (size_t i = 0; i < run->n_buckets; i++)
                fprintf(f, "%s[%llu, %.17g]", i ? ", " : "", (unsigned long long)b[i].tokens,
                        b[i].nll_sum);
            fputc(']', f);
        }
        fputc(']', f);
    }
    fputs("]}\n", f);
}

int sp_ppl_write_part(const sp_ppl_run *run, const char *path, const char *version,
                      sp_error *err) {
    sp_out o;
    int rc = sp_out_open(&o, path, 0, err);
    if (rc) return rc;
    rc = write_identity(o.fp, run, version, err);
    if (!rc) {
        uint64_t part, parts;
        sp_ppl_chosen_part(&part, &parts);
        write_sums(o.fp, run, sp_ppl_part_range(run, part, parts));
        rc = sp_out_commit(&o, err);
    }
    sp_out_abort(&o);
    return rc;
}
