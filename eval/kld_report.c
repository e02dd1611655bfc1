/* kld_report.c — the statistics of the per-position KLD values (percentiles as llama.cpp
 * computes them, a log-spaced histogram for plots) and the `kld` report, as a table or as one
 * JSON document (docs/WORKBENCH.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_workbench.h"

const double sp_kld_percentile_levels[SP_KLD_N_PERCENTILES] = {99.9, 99, 95, 90, 50, 10, 1};

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

double sp_kld_percentile(const float *sorted, size_t n, double fraction) {
    if (!n) return NAN;
    if (fraction <= 0) return sorted[0];
    if (fraction >= 1) return sorted[n - 1];
    double p = fraction * (double)(n - 1);
    size_t i = (size_t)p;
    p -= (double)i;
    size_t j = i + 1 < n ? i + 1 : n - 1;
    return (1 - p) * (double)sorted[i] + p * (double)sorted[j];
}

/* Bins of log10(KLD) from the decade of the 1st percentile (at least 1e-12 of the maximum, at
 * least 1e-30) to the maximum. */
static void histogram(const float *sorted, size_t n, sp_kld_result *res) {
    memset(res->hist, 0, sizeof res->hist);
    res->hist_below = 0;
    double mx = n ? sorted[n - 1] : 0, p1 = sp_kld_percentile(sorted, n, 0.01);
    if (!(mx > 0)) {
        res->hist_lo = -12, res->hist_hi = 0;
        res->hist_below = n;
        return;
    }
    double floor_v = fmax(fmax(p1, mx * 1e-12), 1e-30);
    res->hist_lo = floor(log10(floor_v));
    res->hist_hi = ceil(log10(mx) * 10) / 10; /* a tenth of a decade above the maximum */
    if (res->hist_hi <= res->hist_lo) res->hist_hi = res->hist_lo + 1;
    double w = (res->hist_hi - res->hist_lo) / SP_KLD_HIST_BINS;
    for (size_t i = 0; i < n; i++) {
        double v = sorted[i];
        if (!(v >= pow(10, res->hist_lo))) {
            res->hist_below++;
            continue;
        }
        long b = (long)((log10(v) - res->hist_lo) / w);
        if (b >= SP_KLD_HIST_BINS) b = SP_KLD_HIST_BINS - 1;
        if (b < 0) b = 0;
        res->hist[b]++;
    }
}

void sp_kld_summarize(float *kld, size_t n, sp_kld_result *res) {
    qsort(kld, n, sizeof *kld, cmp_float);
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        sum += kld[i];
        sq += (double)kld[i] * kld[i];
    }
    res->mean_kld = n ? sum / (double)n : NAN;
    double var = n ? sq / (double)n - res->mean_kld * res->mean_kld : NAN;
    res->kld_stderr = n > 1 ? sqrt((var > 0 ? var : 0) / (double)(n - 1)) : NAN;
    for (int i = 0; i < SP_KLD_N_PERCENTILES; i++)
        res->percentile[i] = sp_kld_percentile(kld, n, sp_kld_percentile_levels[i] / 100);
    res->min_kld = n ? kld[0] : NAN;
    res->max_kld = n ? kld[n - 1] : NAN;
    histogram(kld, n, res);
}

static void json_num(FILE *out, double v) {
    if (isfinite(v)) fprintf(out, "%.17g", v);
    else fputs("null", out);
}

static void json_key_num(FILE *out, const char *key, double v, int comma) {
    fprintf(out, "\"%s\": ", key);
    json_num(out, v);
    if (comma) fputs(", ", out);
}

static void json_ppl(FILE *out, const char *key, const char *path, const char *sha,
                     const sp_ppl_result *r) {
    fprintf(out, "  \"%s\": {\"file\": ", key);
    sp_json_escape(out, path, strlen(path));
    fprintf(out, ", \"sha256\": \"%s\", ", sha);
    json_key_num(out, "mean_nll", r->mean_nll, 1);
    json_key_num(out, "ppl", r->ppl, 1);
    json_key_num(out, "ppl_stderr", r->ppl_stderr_tokens, 0);
    fputs("},\n", out);
}

typedef struct kld_run_ref {
    const sp_kld_job *job;
    const sp_kld_result *r;
} kld_run_ref;

/* What changes the numbers: the windows' protocol and --max-tokens (threads do not). */
static void json_settings(FILE *out, const void *user) {
    const sp_kld_job *job = ((const kld_run_ref *)user)->job;
    const sp_kld_result *r = ((const kld_run_ref *)user)->r;
    fprintf(out, "\"ctx\": %zu, \"score\": \"%s\", \"bos\": \"%s\", \"max_tokens\": ", r->ctx,
            sp_score_name(job->protocol.score), sp_bos_name(job->protocol.bos));
    if (job->max_tokens) fprintf(out, "%zu", job->max_tokens);
    else fputs("null", out);
    fputs(", ", out);
    sp_prov_device_settings(out);
}

static void print_json(FILE *out, const sp_kld_job *job, const sp_kld_result *r) {
    const char *paths[2] = {job->base_path, job->other_path};
    const char *shas[2] = {r->base_sha256, r->other_sha256};
    kld_run_ref ref = {job, r};
    sp_provenance prov = {.version = job->version, .models = paths, .sha256 = shas,
                          .n_models = 2, .settings = json_settings, .user = &ref,
                          .settings_sep = ",\n  "};
    fputs("{\n  \"command\": \"kld\", ", out);
    sp_prov_write(out, &prov);
    fputs(",\n", out);
    json_ppl(out, "base", job->base_path, r->base_sha256, &r->base);
    json_ppl(out, "other", job->other_path, r->other_sha256, &r->other);
    fputs("  \"files\": [", out);
    for (size_t i = 0; i < job->n_corpora; i++) {
        if (i) fputs(", ", out);
        sp_json_escape(out, job->corpora[i], strlen(job->corpora[i]));
    }
    fprintf(out, "],\n  \"ctx\": %zu, \"score\": \"%s\", \"bos\": \"%s\", \"windows\": %zu, "
            "\"tokens_scored\": %llu,\n  ", r->ctx, sp_score_name(job->protocol.score),
            sp_bos_name(job->protocol.bos), r->windows, (unsigned long long)r->tokens);
    json_key_num(out, "ppl_ratio", r->ppl_ratio, 1);
    json_key_num(out, "mean_kld", r->mean_kld, 1);
    json_key_num(out, "kld_stderr", r->kld_stderr, 1);
    json_key_num(out, "max_kld", r->max_kld, 1);
    json_key_num(out, "min_kld", r->min_kld, 0);
    fputs(",\n  \"kld_percentiles\": {", out);
    for (int i = 0; i < SP_KLD_N_PERCENTILES; i++) {
        fprintf(out, "%s\"%g\": ", i ? ", " : "", sp_kld_percentile_levels[i]);
        json_num(out, r->percentile[i]);
    }
    fputs("},\n  ", out);
    json_key_num(out, "same_top_rate", r->same_top_rate, 1);
    json_key_num(out, "same_top_stderr", r->same_top_stderr, 1);
    json_key_num(out, "rms_dp", r->rms_dp, 1);
    json_key_num(out, "rms_dp_stderr", r->rms_dp_stderr, 0);
    fprintf(out, ",\n  \"kld_histogram\": {\"scale\": \"log10\", \"lo\": %g, \"hi\": %g, "
            "\"below\": %llu, \"counts\": [", r->hist_lo, r->hist_hi,
            (unsigned long long)r->hist_below);
    for (int b = 0; b < SP_KLD_HIST_BINS; b++)
        fprintf(out, "%s%llu", b ? ", " : "", (unsigned long long)r->hist[b]);
    fputs("]}\n}\n", out);
}

static void table_line(FILE *out, const char *label, double v, double se) {
    fprintf(out, "%-16s", label);
    if (isfinite(v)) fprintf(out, " %12.6f", v);
    else fprintf(out, " %12s", "-");
    if (isfinite(se)) fprintf(out, " ± %.6f", se);
    fputc('\n', out);
}

void sp_kld_print(FILE *out, const sp_kld_job *job, const sp_kld_result *r, int json) {
    if (json) {
        print_json(out, job, r);
        return;
    }
    fprintf(out, "base: %s\nother: %s\nctx %zu, %zu windows, %llu positions scored (score=%s "
            "bos=%s)\n", job->base_path, job->other_path, r->ctx, r->windows,
            (unsigned long long)r->tokens, sp_score_name(job->protocol.score),
            sp_bos_name(job->protocol.bos));
    table_line(out, "PPL(base)", r->base.ppl, r->base.ppl_stderr_tokens);
    table_line(out, "PPL(other)", r->other.ppl, r->other.ppl_stderr_tokens);
    table_line(out, "PPL ratio", r->ppl_ratio, NAN);
    table_line(out, "mean KLD", r->mean_kld, r->kld_stderr);
    table_line(out, "max KLD", r->max_kld, NAN);
    for (int i = 0; i < SP_KLD_N_PERCENTILES; i++) {
        char label[32];
        snprintf(label, sizeof label, "%g%% KLD", sp_kld_percentile_levels[i]);
        table_line(out, label, r->percentile[i], NAN);
    }
    table_line(out, "min KLD", r->min_kld, NAN);
    table_line(out, "same top", r->same_top_rate, r->same_top_stderr);
    table_line(out, "RMS dp", r->rms_dp, r->rms_dp_stderr);
}
