/* report_json.c — a perplexity run as one JSON document: provenance (sparsa's version, each
 * model's SHA-256, the settings behind the numbers), one object per (model, file, ctx) and the
 * micro-averages. docs/PROTOCOLS.md lists every key. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ppl_report.h"

/* File and model names as JSON strings: any bytes give valid JSON (sp_json_escape's rules). */
static void json_string(FILE *out, const char *s) { sp_json_escape(out, s, strlen(s)); }

/* Doubles round-trip with %.17g; NaN and infinities are not JSON, they become null. */
static void json_num(FILE *out, double v) {
    if (isfinite(v)) fprintf(out, "%.17g", v);
    else fputs("null", out);
}

static void json_key_num(FILE *out, const char *key, double v) {
    fprintf(out, ", \"%s\": ", key);
    json_num(out, v);
}

static void json_result_fields(FILE *out, const sp_ppl_row *r) {
    fprintf(out, "\"ctx\": %zu, \"windows\": %zu, \"tokens_scored\": %llu, \"mean_nll\": ",
            r->ctx, r->r.windows, (unsigned long long)r->r.tokens_scored);
    json_num(out, r->r.mean_nll);
    json_key_num(out, "ppl", r->r.ppl);
    json_key_num(out, "ppl_stderr", r->r.ppl_stderr);
    json_key_num(out, "mean_nll_stderr", r->r.nll_stderr);
    json_key_num(out, "ppl_stderr_tokens", r->r.ppl_stderr_tokens);
    json_key_num(out, "mean_nll_stderr_tokens", r->r.nll_stderr_tokens);
}

/* lm-evaluation-harness's normalised perplexities of a rolling row. */
static void json_normalised(FILE *out, const sp_ppl_row *r) {
    double s = sp_ppl_row_nll_sum(r);
    fprintf(out, ", \"words\": %llu, \"bytes\": %llu", (unsigned long long)r->words,
            (unsigned long long)r->bytes);
    json_key_num(out, "word_perplexity", r->words ? exp(s / (double)r->words) : NAN);
    json_key_num(out, "byte_perplexity", r->bytes ? exp(s / (double)r->bytes) : NAN);
    json_key_num(out, "bits_per_byte", r->bytes ? s / ((double)r->bytes * log(2.0)) : NAN);
}

static void json_buckets(FILE *out, const sp_ppl_row *r) {
    fputs(",\n   \"by_position\": [", out);
    for (size_t b = 0; b < r->n_buckets; b++) {
        const sp_ppl_bucket *k = &r->buckets[b];
        double mean = k->nll_sum / (double)k->tokens;
        fprintf(out, "%s{\"start\": %zu, \"end\": %zu, \"tokens\": %llu", b ? ", " : "",
                k->start, k->end, (unsigned long long)k->tokens);
        json_key_num(out, "mean_nll", mean);
        json_key_num(out, "ppl", exp(mean));
        fputc('}', out);
    }
    fputc(']', out);
}

static void json_attention(FILE *out, const sp_ppl_row *r) {
    fputs(",\n   \"attention\": [", out);
    for (size_t l = 0; l < r->layers; l++) {
        fputs(l ? ", [" : "[", out);
        for (int h = 0; h < r->heads[l]; h++) {
            fputs(h ? ", {\"mean_support\": " : "{\"mean_support\": ", out);
            json_num(out, r->sparsity[l][h].mean_support);
            json_key_num(out, "zero_fraction", r->sparsity[l][h].zero_fraction);
            json_key_num(out, "skipped_tiles", r->sparsity[l][h].skipped_tiles);
            fputc('}', out);
        }
        fputc(']', out);
    }
    fputc(']', out);
}

static void json_row(FILE *out, const sp_ppl_report_info *info, const sp_ppl_row *r) {
    if (r->file) {
        fputs("{\"file\": ", out);
        json_string(out, r->file);
    } else {
        fprintf(out, "{\"files\": %zu", r->files);
    }
    fputs(", ", out);
    json_result_fields(out, r);
    fputs(", \"model\": ", out);
    json_string(out, info->models ? info->models[r->model] : info->model);
    if (info->protocol->score == SP_SCORE_ROLLING) json_normalised(out, r);
    if (r->buckets) json_buckets(out, r);
    if (r->layers) json_attention(out, r);
    fputc('}', out);
}

/* The settings behind the numbers (threads do not change them; device and precision are
 * fixed on this build). */
static void json_settings(FILE *out, const void *user) {
    const sp_ppl_report_info *info = user;
    const sp_ppl_protocol *p = info->protocol;
    fprintf(out, "\"score\": \"%s\", \"bos\": \"%s\", \"stride\": %zu", sp_score_name(p->score),
            sp_ppl_effective_bos(p), p->stride);
    if (p->score == SP_SCORE_ROLLING)
        fprintf(out, ", \"docs\": \"%s\"", p->docs == SP_DOCS_LINES ? "lines" : "files");
    fputs(", \"contexts\": [", out);
    for (size_t c = 0; c < info->n_ctx; c++) fprintf(out, "%s%zu", c ? ", " : "", info->ctx[c]);
    fputs("], \"max_tokens\": ", out);
    if (info->max_tokens) fprintf(out, "%zu", info->max_tokens);
    else fputs("null", out);
    fputs(", \"by_position\": ", out);
    if (info->by_position) fprintf(out, "%zu", info->by_position);
    else fputs("null", out);
    fputs(", ", out);
    sp_prov_device_settings(out);
}

/* The sparsa version, every model with its SHA-256, and the settings. */
static void json_provenance(FILE *out, const sp_ppl_report_info *info) {
    sp_provenance prov = {.version = info->version, .models = info->models,
                          .sha256 = info->sha256, .n_models = info->n_models,
                          .settings = json_settings, .user = info, .settings_sep = ",\n "};
    fputc(' ', out);
    sp_prov_write(out, &prov);
    fputs(",\n", out);
}

void sp_ppl_print_json(FILE *out, const sp_ppl_report_info *info, const sp_ppl_row *rows,
                       size_t n_rows) {
    const sp_ppl_protocol *p = info->protocol;
    fputs("{\"model\": ", out);
    json_string(out, info->model);
    fprintf(out, ", \"protocol\": {\"score\": \"%s\", \"bos\": \"%s\", \"stride\": %zu",
            sp_score_name(p->score), sp_ppl_effective_bos(p), p->stride);
    if (p->score == SP_SCORE_ROLLING)
        fprintf(out, ", \"docs\": \"%s\"", p->docs == SP_DOCS_LINES ? "lines" : "files");
    fputs("},\n", out);
    if (info->n_models && info->models && info->sha256) json_provenance(out, info);
    for (int avg = 0; avg < 2; avg++) {
        fputs(avg ? "],\n \"average\": [" : " \"results\": [", out);
        int first = 1;
        for (size_t i = 0; i < n_rows; i++) {
            if ((rows[i].file == NULL) != avg) continue;
            fputs(first ? "\n  " : ",\n  ", out);
            first = 0;
            json_row(out, info, &rows[i]);
        }
    }
    fputs("]}\n", out);
}
