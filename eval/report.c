/* report.c — perplexity results as a human table (one model: its numbers and uncertainties;
 * several: a PPL column per model), with the by-position buckets and attention sparsity
 * after it; the names of the protocol parts. The JSON document is report_json.c's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ppl_report.h"

const char *sp_score_name(sp_score_mode m) {
    return m == SP_SCORE_SECOND_HALF ? "second-half" : m == SP_SCORE_ROLLING ? "rolling" : "all";
}

const char *sp_bos_name(sp_bos_mode m) {
    return m == SP_BOS_PREPEND ? "prepend" : m == SP_BOS_REPLACE ? "replace" : "none";
}

/* second-half always replaces the first token of a window by BOS; rolling puts it before the
 * first token of each document only (lm-evaluation-harness's prefix token). */
const char *sp_ppl_effective_bos(const sp_ppl_protocol *p) {
    if (p->score == SP_SCORE_ROLLING) return "prefix";
    return p->score == SP_SCORE_SECOND_HALF ? "replace" : sp_bos_name(p->bos);
}

double sp_ppl_row_nll_sum(const sp_ppl_row *r) { return r->r.mean_nll * (double)r->r.tokens_scored; }

static void table_num(FILE *out, const char *fmt, int width, double v) {
    if (isfinite(v)) fprintf(out, fmt, width, v);
    else fprintf(out, "%*s", width, "-");
}

static void print_header(FILE *out, const sp_ppl_report_info *info) {
    const sp_ppl_protocol *p = info->protocol;
    if (info->n_models <= 1) fprintf(out, "model: %s\n", info->model);
    for (size_t m = 0; info->n_models > 1 && m < info->n_models; m++)
        fprintf(out, "model %zu: %s\n", m + 1, info->models[m]);
    fprintf(out, "protocol: score=%s bos=%s", sp_score_name(p->score), sp_ppl_effective_bos(p));
    if (p->stride) fprintf(out, " stride=%zu", p->stride);
    if (p->score == SP_SCORE_ROLLING)
        fprintf(out, " docs=%s", p->docs == SP_DOCS_LINES ? "lines" : "files");
    fputc('\n', out);
}

static void print_row_name(FILE *out, int fw, const sp_ppl_row *r) {
    char name[64];
    if (r->file) snprintf(name, sizeof name, "%s", r->file);
    else snprintf(name, sizeof name, "all %zu files", r->files);
    fprintf(out, "%-*s %7zu %8zu %11llu ", fw, name, r->ctx, r->r.windows,
            (unsigned long long)r->r.tokens_scored);
}

/* word_ppl, byte_ppl, bits per byte of a rolling row (docs/PROTOCOLS.md). */
static void print_normalised(FILE *out, const sp_ppl_row *r) {
    double s = sp_ppl_row_nll_sum(r);
    fputc(' ', out);
    table_num(out, "%*.4f", 10, r->words ? exp(s / (double)r->words) : NAN);
    fputc(' ', out);
    table_num(out, "%*.4f", 10, r->bytes ? exp(s / (double)r->bytes) : NAN);
    fputc(' ', out);
    table_num(out, "%*.4f", 8, r->bytes ? s / ((double)r->bytes * log(2.0)) : NAN);
}

static void print_one_model(FILE *out, int fw, int rolling, const sp_ppl_row *rows,
                            size_t n_rows) {
    fprintf(out, "%-*s %7s %8s %11s %10s %12s %12s %12s", fw, "file", "ctx", "windows",
            "tokens", "mean_nll", "ppl", "se(windows)", "se(tokens)");
    if (rolling) fprintf(out, " %10s %10s %8s", "word_ppl", "byte_ppl", "bpb");
    fputc('\n', out);
    for (size_t i = 0; i < n_rows; i++) {
        const sp_ppl_row *r = &rows[i];
        print_row_name(out, fw, r);
        table_num(out, "%*.6f", 10, r->r.mean_nll);
        fputc(' ', out);
        table_num(out, "%*.4f", 12, r->r.ppl);
        fputc(' ', out);
        table_num(out, "%*.4f", 12, r->r.ppl_stderr);
        fputc(' ', out);
        table_num(out, "%*.4f", 12, r->r.ppl_stderr_tokens);
        if (rolling) print_normalised(out, r);
        fputc('\n', out);
    }
}

/* Several models: the rows of model m are rows[m * per .. (m + 1) * per), in the same order. */
static void print_models(FILE *out, int fw, int rolling, size_t n_models, const sp_ppl_row *rows,
                         size_t per) {
    fprintf(out, "%-*s %7s %8s %11s", fw, "file", "ctx", "windows", "tokens");
    for (size_t m = 0; m < n_models; m++) {
        char h[32];
        snprintf(h, sizeof h, "ppl[%zu]", m + 1);
        fprintf(out, " %12s", h);
        snprintf(h, sizeof h, "bpb[%zu]", m + 1);
        if (rolling) fprintf(out, " %8s", h);
    }
    fputc('\n', out);
    for (size_t i = 0; i < per; i++) {
        print_row_name(out, fw, &rows[i]);
        for (size_t m = 0; m < n_models; m++) {
            const sp_ppl_row *r = &rows[m * per + i];
            if (m) fputc(' ', out);
            table_num(out, "%*.4f", 12, r->r.ppl);
            double s = sp_ppl_row_nll_sum(r);
            if (rolling) {
                fputc(' ', out);
                table_num(out, "%*.4f", 8, r->bytes ? s / ((double)r->bytes * log(2.0)) : NAN);
            }
        }
        fputc('\n', out);
    }
}

/* Mean NLL per bucket, six to a line: "[start,end) nll". */
static void print_buckets(FILE *out, const sp_ppl_report_info *info, const sp_ppl_row *rows,
                          size_t n_rows) {
    for (size_t i = 0; i < n_rows; i++) {
        const sp_ppl_row *r = &rows[i];
        if (!r->n_buckets || !r->file) continue;
        fprintf(out, "\nmean NLL by position in the window (buckets of %zu), ", info->by_position);
        if (info->n_models > 1) fprintf(out, "model %zu, ", r->model + 1);
        fprintf(out, "%s, ctx %zu:", r->file, r->ctx);
        for (size_t b = 0; b < r->n_buckets; b++) {
            const sp_ppl_bucket *k = &r->buckets[b];
            fputs(b % 6 ? "  " : "\n  ", out);
            fprintf(out, "[%zu,%zu) %.4f", k->start, k->end, k->nll_sum / (double)k->tokens);
        }
        fputc('\n', out);
    }
}

static void print_sparsity(FILE *out, const sp_ppl_report_info *info, const sp_ppl_row *rows,
                           size_t n_rows) {
    for (size_t i = 0; i < n_rows; i++) {
        const sp_ppl_row *r = &rows[i];
        if (!r->layers || !r->file) continue;
        fputs("\nattention sparsity, ", out);
        if (info->n_models > 1) fprintf(out, "model %zu, ", r->model + 1);
        fprintf(out, "%s, ctx %zu: mean support (keys with p > 0) / exactly-zero weights [/ key "
                "tiles skipped]\n", r->file, r->ctx);
        for (size_t l = 0; l < r->layers; l++) {
            fprintf(out, "  layer %-3zu", l);
            for (int h = 0; h < r->heads[l]; h++) {
                const sp_head_sparsity *sp = &r->sparsity[l][h];
                fprintf(out, "  h%d %.1f/%.1f%%", h, sp->mean_support, 100.0 * sp->zero_fraction);
                if (!isnan(sp->skipped_tiles)) fprintf(out, "/%.1f%%", 100.0 * sp->skipped_tiles);
            }
            fputc('\n', out);
        }
    }
}

void sp_ppl_print_table(FILE *out, const sp_ppl_report_info *info, const sp_ppl_row *rows,
                        size_t n_rows) {
    print_header(out, info);
    int fw = 10, rolling = info->protocol->score == SP_SCORE_ROLLING;
    for (size_t i = 0; i < n_rows; i++)
        if (rows[i].file && (int)strlen(rows[i].file) > fw) fw = (int)strlen(rows[i].file);
    if (fw > 60) fw = 60;
    size_t nm = info->n_models > 1 ? info->n_models : 1;
    if (nm == 1) print_one_model(out, fw, rolling, rows, n_rows);
    else print_models(out, fw, rolling, nm, rows, n_rows / nm);
    print_buckets(out, info, rows, n_rows);
    print_sparsity(out, info, rows, n_rows);
}
