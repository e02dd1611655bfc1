/* sparsa_workbench.h — eval/'s evaluation workbench: model-vs-model divergence (kld), zero-shot
 * multiple-choice tasks (mc), and the small strict JSON reader both the task files and the plot
 * command's result files are read with. docs/WORKBENCH.md defines every metric.
 *
 * kld runs the perplexity windows (sparsa_eval.h: sp_ppl_plan_make, sp_ppl_window_input) through
 * two models at once, in blocks of rows appended to each session's KV cache, so memory is
 * O(vocab × block) per model plus one float per scored position (for the percentiles). */
#ifndef SPARSA_WORKBENCH_H
#define SPARSA_WORKBENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sparsa_eval.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- a strict JSON reader (RFC 8259) ------------------------------------------------------ */

typedef enum {
    SP_JV_NULL = 0, SP_JV_BOOL, SP_JV_NUMBER, SP_JV_STRING, SP_JV_ARRAY, SP_JV_OBJECT
} sp_jv_type;

/* One parsed value. Strings are NUL-terminated UTF-8 (escapes decoded; a "\u0000" makes len
 * longer than strlen). Arrays hold n items; objects n items with keys[i] naming items[i]. */
typedef struct sp_jv {
    sp_jv_type type;
    int boolean;
    double number;
    char *str;
    size_t len;
    struct sp_jv *items;
    char **keys;
    size_t n;
} sp_jv;

/* Parses exactly one value (white space around it allowed) from text[0..len). Refuses invalid
 * UTF-8, control characters in strings, lone surrogates, duplicate keys, trailing commas,
 * nesting deeper than 64 and anything after the value: SP_ERR_INPUT with "byte N: what" in err
 * (the caller prefixes the file name and line). */
int sp_jv_parse(const char *text, size_t len, sp_jv *out, sp_error *err);
void sp_jv_free(sp_jv *v);
/* The member named key of an object, or NULL (also when v is not an object). */
const sp_jv *sp_jv_get(const sp_jv *v, const char *key);

/* ---- kld: two models on the same windows -------------------------------------------------- */

/* The percentiles reported, in this order (llama.cpp's list). */
#define SP_KLD_N_PERCENTILES 7
extern const double sp_kld_percentile_levels[SP_KLD_N_PERCENTILES]; /* 99.9, 99, 95, 90, 50, 10, 1 */

/* Log-spaced histogram of the per-position KLD for plots: bin b covers
 * [10^(lo + b·w), 10^(lo + (b+1)·w)) with w = (hi - lo) / SP_KLD_HIST_BINS; values below 10^lo
 * (zeros included) go to `below`, the maximum to the last bin. */
#define SP_KLD_HIST_BINS 30

typedef struct sp_kld_job {
    const char *base_path, *other_path;
    const char *const *corpora;  /* [n_corpora] UTF-8 text files */
    size_t n_corpora;
    size_t ctx;                  /* 0: 512, or the smaller model's context if smaller */
    sp_ppl_protocol protocol;    /* the windows, exactly as `perplexity` plans them */
    size_t max_tokens;           /* 0: every token of each corpus */
    int threads;                 /* 0: the default */
    int progress;                /* a progress line on stderr */
    int no_verify;               /* 1: skip the weights' CRC-32 checks (--no-verify) */
    const char *version;         /* sparsa's version for the JSON's provenance, or NULL */
    sp_token_cache_opts token_cache; /* where each corpus's ids are cached */
} sp_kld_job;

typedef struct sp_kld_result {
    size_t ctx, windows;
    uint64_t tokens;             /* scored positions */
    sp_ppl_result base, other;   /* perplexity of each model on those positions */
    double ppl_ratio;            /* other.ppl / base.ppl */
    double mean_kld, kld_stderr; /* nats, base → other */
    double percentile[SP_KLD_N_PERCENTILES];
    double max_kld, min_kld;
    double same_top_rate, same_top_stderr;
    double rms_dp, rms_dp_stderr;
    double hist_lo, hist_hi;     /* log10 bounds of the histogram */
    uint64_t hist_below, hist[SP_KLD_HIST_BINS];
    char base_sha256[65], other_sha256[65];
} sp_kld_result;

/* Checks every input (both models, their tokenizers agree, the corpora, the windows), then
 * runs every window of every corpus through both models. SP_ERR_INPUT for bad input (naming
 * the file), SP_ERR_RUNTIME for failures while running. Under mpirun (sparsa_dist.h) each
 * rank runs a share of the windows and rank 0 adds every window's rows in window order, so its
 * res has the bits of one process; the other ranks' res is not filled (they print nothing). A
 * failure of any rank comes back on rank 0 as "rank R: ...". */
int sp_kld_run(const sp_kld_job *job, sp_kld_result *res, sp_error *err);

/* The statistics of n per-position KLD values (sorted in place) into res: mean, stderr,
 * percentiles, min, max and the histogram. Exposed for tests. */
void sp_kld_summarize(float *kld, size_t n, sp_kld_result *res);
/* llama.cpp's percentile of sorted values: linear interpolation at fraction · (n - 1). */
double sp_kld_percentile(const float *sorted, size_t n, double fraction);

void sp_kld_print(FILE *out, const sp_kld_job *job, const sp_kld_result *res, int json);

/* ---- mc: zero-shot multiple-choice tasks -------------------------------------------------- */

/* SP_MC_AUTO: the layout is told from the first question's keys (ctx_a → hellaswag, option1 →
 * winogrande, answerKey → arc, context → generic). */
typedef enum {
    SP_MC_HELLASWAG = 0, SP_MC_WINOGRANDE, SP_MC_ARC, SP_MC_GENERIC, SP_MC_AUTO
} sp_mc_format;

/* One question as scored: each choice c is the pair (context[c], continuation[c]); the
 * continuation starts with the target delimiter " " (lm-evaluation-harness). norm_bytes[c] is
 * the byte count acc_norm divides by (the continuation without its delimiter). */
typedef struct sp_mc_item {
    size_t n_choices;
    char **context, **continuation;
    size_t *norm_bytes;
    size_t gold;
} sp_mc_item;

typedef struct sp_mc_set {
    sp_mc_item *items;
    size_t n;
    sp_mc_format format;         /* the layout read (never SP_MC_AUTO) */
} sp_mc_set;

/* Reads a JSONL task file (one object per non-blank line) in the given layout and builds the
 * prompts as lm-evaluation-harness does. Errors are SP_ERR_INPUT naming the file and line. */
int sp_mc_read(const char *path, sp_mc_format format, sp_mc_set *out, sp_error *err);
/* The same from text already in memory (name is used in messages). */
int sp_mc_parse(const char *name, const char *text, size_t len, sp_mc_format format,
                sp_mc_set *out, sp_error *err);
void sp_mc_set_free(sp_mc_set *s);
/* hellaswag's text clean-up (lm-evaluation-harness preprocess): strip, " [title]" → ". ",
 * drop "[...]" spans, "  " → " ". Returns a malloc'd string or NULL. */
char *sp_mc_hellaswag_clean(const char *s);

typedef struct sp_mc_job {
    const char *model_path, *task_path;
    sp_mc_format format;
    int bos;                     /* 1: BOS before every context */
    size_t limit;                /* 0: every question */
    int threads;
    int progress;
    int no_verify;               /* 1: skip the weights' CRC-32 checks (--no-verify) */
    FILE *predictions;           /* NULL, or one JSON line per question */
    const char *version;         /* sparsa's version for the JSON's provenance, or NULL */
    uint64_t shard, shards;      /* --shard K/N: only part K of N, written to part_path (a
                                  * part file, sparsa_dist.h; res is then not filled); 0: all */
    const char *part_path;
} sp_mc_job;

typedef struct sp_mc_result {
    sp_mc_format format;         /* the layout read */
    size_t n;
    double acc, acc_stderr, acc_norm, acc_norm_stderr;
    char model_sha256[65];
} sp_mc_result;

int sp_mc_run(const sp_mc_job *job, sp_mc_result *res, sp_error *err);
void sp_mc_print(FILE *out, const sp_mc_job *job, const sp_mc_result *res, int json);
const char *sp_mc_format_name(sp_mc_format f);

/* Mean of 0/1 outcomes and lm-evaluation-harness's standard error of it (sample standard
 * deviation / √n; NaN when n < 2). */
void sp_mc_mean_stderr(const unsigned char *hits, size_t n, double *mean, double *stderr_out);

#ifdef __cplusplus
}
#endif
#endif
