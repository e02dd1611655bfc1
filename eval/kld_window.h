/* kld_window.h — private to eval/: one window of `kld` through two sessions, block by block
 * (kld_window.c), and the sums the run keeps (kld_job.c). docs/WORKBENCH.md has the formulas. */
#ifndef SPARSA_EVAL_KLD_WINDOW_H
#define SPARSA_EVAL_KLD_WINDOW_H

#include "sparsa_workbench.h"

/* Per-row values of the current block (index = row - first row of the block). */
typedef struct kld_rows {
    double *e;         /* [rows][vocab] exp(base logit - base max) */
    double *inv_sum;   /* 1 / Σ e */
    double *lse_b;     /* base log-sum-exp */
    double *ex_b;      /* Σ e · base logit */
    int32_t *top_b;    /* base argmax (lowest id on ties) */
    double *kld, *nll_b, *nll_o, *dp;
    unsigned char *same;
} kld_rows;

/* Sums over every scored position, in window and row order. */
typedef struct kld_sums {
    sp_ppl_acc base, other;
    double kld, kld_sq, same, dp_sq, dp_4;
    float *kld_all;    /* [capacity] one value per scored position */
    uint64_t n, capacity;
    sp_strbuf *log;    /* split runs: each window's rows recorded here too (kld_replay) */
} kld_sums;

typedef struct kld_engine {
    sp_session *base, *other;
    int32_t vocab;
    size_t block;      /* tokens per forward call: the rows one buffer holds */
    kld_rows rows;
} kld_engine;

int kld_engine_init(kld_engine *k, size_t block, int32_t vocab, sp_error *err);
void kld_engine_free(kld_engine *k);
/* Runs input[0..ctx) through both sessions (reset first) and adds targets
 * input[score_from..ctx) to sums. */
int kld_window(kld_engine *k, const int32_t *input, size_t ctx, size_t score_from,
               kld_sums *sums, sp_error *err);

/* The sums of windows recorded on any process (kld_sums.log, in window order), added again
 * from zero exactly as kld_window adds them; *windows gets their count. SP_ERR_INPUT when the
 * records are short or hold more positions than planned. */
int kld_replay(kld_sums *sums, const char *recs, size_t len, size_t *windows, sp_error *err);

#endif
