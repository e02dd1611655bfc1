/* report.c — perplexity results as a human table or as one JSON document. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sparsa_eval.h"

const char *sp_score_name(sp_score_mode m) {
    return m == SP_SCORE_SECOND_HALF ? "second-half" : "all";
}

const char *sp_bos_name(sp_bos_mode m) {
    return m == SP_BOS_PREPEND ? "prepend" : m == SP_BOS_REPLACE ? "replace" : "none";
}

/* second-half always replaces the first token of a window by BOS. */
static const char *effective_bos(const sp_ppl_protocol *p) {
    return p->score == SP_SCORE_SECOND_HALF ? "replace" : sp_bos_name(p->bos);
}

/* File and model names as JSON strings: any bytes give valid JSON (sp_json_escape's rules). */
static void json_string(FILE *out, const char *s) { sp_json_escape(out, s, strlen(s)); }

/* Doubles round-trip with %.17g; NaN and infinities are not JSON, they become null. */
static void json_num(FILE *out, double v) {
    if (isfinite(v)) fprintf(out, "%.17g", v);
    else fputs("null", out);
}

static void table_num(FILE *out, const char *fmt, int width, double v) {
    if (isfinite(v)) fprintf(out, fmt, width, v);
    else fprintf(out, "%*s", width, "-");
}

void sp_ppl_print_table(FILE *out, const sp_ppl_report_info *info, const sp_ppl_row *rows,
                        size_t n_rows) {
    const sp_ppl_protocol *p = info->protocol;
    fprintf(out, "model: %s\nprotocol: score=%s bos=%s", info->model, sp_score_name(p->score),
            effective_bos(p));
    if (p->stride) fprintf(out, " stride=%zu", p->stride);
    fputc('\n', out);
    int fw = 10;
    for (size_t i = 0; i < n_rows; i++)
        if (rows[i].file && (int)strlen(rows[i].file) > fw) fw = (int)strlen(rows[i].file);
    if (fw > 60) fw = 60;
    fprintf(out, "%-*s %7s %8s %11s %10s %12s %12s %12s\n", fw, "file", "ctx", "windows",
            "tokens", "mean_nll", "ppl", "se(windows)", "se(tokens)");
    for (size_t i = 0; i < n_rows; i++) {
        const sp_ppl_row *r = &rows[i];
        char name[64];
        if (r->file) snprintf(name, sizeof name, "%s", r->file);
        else snprintf(name, sizeof name, "all %zu files", r->files);
        fprintf(out, "%-*s %7zu %8zu %11llu ", fw, name, r->ctx, r->r.windows,
                (unsigned long long)r->r.tokens_scored);
        table_num(out, "%*.6f", 10, r->r.mean_nll);
        fputc(' ', out);
        table_num(out, "%*.4f", 12, r->r.ppl);
        fputc(' ', out);
        table_num(out, "%*.4f", 12, r->r.ppl_stderr);
        fputc(' ', out);
        table_num(out, "%*.4f", 12, r->r.ppl_stderr_tokens);
        fputc('\n', out);
    }
    for (size_t i = 0; i < n_rows; i++) {
        const sp_ppl_row *r = &rows[i];
        if (!r->layers || !r->file) continue;
        fprintf(out, "\nattention sparsity, %s, ctx %zu: mean support (keys with p > 0) / "
                "exactly-zero weights [/ key tiles skipped]\n", r->file, r->ctx);
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

static void json_result_fields(FILE *out, const sp_ppl_row *r) {
    fprintf(out, "\"ctx\": %zu, \"windows\": %zu, \"tokens_scored\": %llu, \"mean_nll\": ",
            r->ctx, r->r.windows, (unsigned long long)r->r.tokens_scored);
    json_num(out, r->r.mean_nll);
    fputs(", \"ppl\": ", out);
    json_num(out, r->r.ppl);
    fputs(", \"ppl_stderr\": ", out);
    json_num(out, r->r.ppl_stderr);
    fputs(", \"mean_nll_stderr\": ", out);
    json_num(out, r->r.nll_stderr);
    fputs(", \"ppl_stderr_tokens\": ", out);
    json_num(out, r->r.ppl_stderr_tokens);
    fputs(", \"mean_nll_stderr_tokens\": ", out);
    json_num(out, r->r.nll_stderr_tokens);
}

void sp_ppl_print_json(FILE *out, const sp_ppl_report_info *info, const sp_ppl_row *rows,
                       size_t n_rows) {
    const sp_ppl_protocol *p = info->protocol;
    fputs("{\"model\": ", out);
    json_string(out, info->model);
    fprintf(out, ", \"protocol\": {\"score\": \"%s\", \"bos\": \"%s\", \"stride\": %zu},\n",
            sp_score_name(p->score), effective_bos(p), p->stride);
    fputs(" \"results\": [", out);
    int first = 1;
    for (size_t i = 0; i < n_rows; i++) {
        const sp_ppl_row *r = &rows[i];
        if (!r->file) continue;
        fputs(first ? "\n  {\"file\": " : ",\n  {\"file\": ", out);
        first = 0;
        json_string(out, r->file);
        fputs(", ", out);
        json_result_fields(out, r);
        if (r->layers) {
            fputs(",\n   \"attention\": [", out);
            for (size_t l = 0; l < r->layers; l++) {
                fputs(l ? ", [" : "[", out);
                for (int h = 0; h < r->heads[l]; h++) {
                    fputs(h ? ", {\"mean_support\": " : "{\"mean_support\": ", out);
                    json_num(out, r->sparsity[l][h].mean_support);
                    fputs(", \"zero_fraction\": ", out);
                    json_num(out, r->sparsity[l][h].zero_fraction);
                    fputs(", \"skipped_tiles\": ", out);
                    json_num(out, r->sparsity[l][h].skipped_tiles);
                    fputc('}', out);
                }
                fputc(']', out);
            }
            fputc(']', out);
        }
        fputc('}', out);
    }
    fputs("],\n \"average\": [", out);
    first = 1;
    for (size_t i = 0; i < n_rows; i++) {
        const sp_ppl_row *r = &rows[i];
        if (r->file) continue;
        fputs(first ? "\n  {" : ",\n  {", out);
        first = 0;
        fprintf(out, "\"files\": %zu, ", r->files);
        json_result_fields(out, r);
        fputc('}', out);
    }
    fputs("]}\n", out);
}
