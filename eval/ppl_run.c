/* ppl_run.c — perplexity windows through the interpreter (summed, or NLL by position): the
 * logits sink reduces each row to the NLL of its target as it arrives (O(vocab) memory),
 * summed in row order; a backend with a fused scoring head returns the NLLs themselves, and
 * one that batches windows across its device takes several per call (sp_ppl_score_windows).
 * A non-finite NLL (a NaN or infinite logit in a scored row) stops the window: it is never
 * summed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_eval.h"

typedef struct window_sink {
    const int32_t *input;
    size_t ctx;
    size_t score_from;
    int32_t vocab;
    double sum, sq;
    uint64_t n;
    size_t nonfinite_at;         /* first target position with a non-finite NLL; 0: none */
    double *out;                 /* sp_ppl_score_window: NLL by target position */
    double nll[SP_LOGIT_BLOCK];
} window_sink;

/* Adds the NLLs w->nll[0..n_rows) of rows first_row.. to the window's sums, in row order;
 * a non-finite NLL of a scored row stops the window. */
static int accumulate_rows(window_sink *w, size_t first_row, size_t n_rows) {
    for (size_t j = 0; j < n_rows; j++) {
        size_t r = first_row + j;
        if (r + 1 >= w->score_from && r + 1 < w->ctx) {
            if (!isfinite(w->nll[j])) {
                w->nonfinite_at = r + 1;
                return 1; /* stops the forward; sp_ppl_run_window reports it */
            }
            if (w->out) w->out[r + 1] = w->nll[j];
            w->sum += w->nll[j];
            w->sq += w->nll[j] * w->nll[j];
            w->n++;
        }
    }
    return 0;
}

static int sink_rows(void *user, size_t first_row, size_t n_rows, const float *logits) {
    window_sink *w = user;
    if (n_rows > SP_LOGIT_BLOCK) return 1;
    /* Row r predicts the token at position r + 1. Rows are independent, so they may run in
     * parallel; the sums are formed in row order, whatever the thread count. */
    long nr = (long)n_rows;
#pragma omp parallel for schedule(static) if (n_rows * (size_t)w->vocab >= 262144)
    for (long j = 0; j < nr; j++) {
        size_t r = first_row + (size_t)j;
        w->nll[j] = NAN;
        if (r + 1 >= w->score_from && r + 1 < w->ctx)
            w->nll[j] = sp_nll_of_row(logits + (size_t)j * (size_t)w->vocab, w->vocab,
                                      w->input[r + 1]);
    }
    return accumulate_rows(w, first_row, n_rows);
}

/* A backend with the scoring head on the device returns the NLLs themselves; they go through
 * the same row-order accumulation as the sink's. */
static int forward_fused(sp_session *s, window_sink *w, size_t feed, sp_error *err) {
    size_t from = w->score_from - 1, rows = feed - from;
    int32_t *targets = malloc(feed * sizeof *targets);
    double *nll = malloc(rows * sizeof *nll);
    int rc = targets && nll ? SP_OK : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t r = 0; !rc && r < feed; r++) targets[r] = r + 1 < w->ctx ? w->input[r + 1] : 0;
    if (!rc) rc = sp_session_forward_nll(s, w->input, feed, from, targets, nll, err);
    for (size_t r0 = 0; !rc && r0 < rows; r0 += SP_LOGIT_BLOCK) {
        size_t nb = rows - r0 < SP_LOGIT_BLOCK ? rows - r0 : SP_LOGIT_BLOCK;
        memcpy(w->nll, nll + r0, nb * sizeof *nll);
        if (accumulate_rows(w, from + r0, nb)) break;
    }
    free(targets);
    free(nll);
    return rc;
}

/* A sink for the window seq[0..len) scored from score_from (NLLs into out when not NULL). */
static void window_init(window_sink *w, const int32_t *seq, size_t len, size_t score_from,
                        int32_t vocab, double *out) {
    memset(w, 0, sizeof *w);
    w->input = seq;
    w->ctx = len;
    w->score_from = score_from;
    w->vocab = vocab;
    w->out = out;
}

/* After a window's forward (status rc): a non-finite NLL first, then rc, then every target
 * must have been scored. */
static int window_check(const window_sink *w, int rc, size_t *nonfinite_at, sp_error *err) {
    if (w->nonfinite_at) {
        if (nonfinite_at) *nonfinite_at = w->nonfinite_at;
        return sp_fail(err, SP_ERR_RUNTIME, "non-finite NLL at position %zu", w->nonfinite_at);
    }
    if (rc) return rc;
    if (w->n != w->ctx - w->score_from)
        return sp_fail(err, SP_ERR_RUNTIME, "internal: %llu of %zu targets received logits",
                       (unsigned long long)w->n, w->ctx - w->score_from);
    return SP_OK;
}

static int forward_window(sp_session *s, window_sink *w, size_t feed, sp_error *err) {
    if (sp_session_fused_nll(s)) return forward_fused(s, w, feed, err);
    return sp_session_forward(s, w->input, feed, w->score_from - 1, sink_rows, w, err);
}

int sp_ppl_run_window(sp_session *s, int32_t vocab, const int32_t *input, size_t ctx,
                      size_t score_from, sp_ppl_acc *acc, size_t *nonfinite_at, sp_error *err) {
    window_sink w;
    window_init(&w, input, ctx, score_from, vocab, NULL);
    sp_session_reset(s);
    if (nonfinite_at) *nonfinite_at = 0;
    int rc = window_check(&w, forward_window(s, &w, ctx, err), nonfinite_at, err);
    if (rc) return rc;
    sp_ppl_acc_window(acc, w.n, w.sum, w.sq);
    return SP_OK;
}

int sp_ppl_score_window(sp_session *s, int32_t vocab, const int32_t *seq, size_t len,
                        size_t feed, size_t score_from, double *nll, size_t *nonfinite_at,
                        sp_error *err) {
    window_sink w;
    window_init(&w, seq, len, score_from, vocab, nll);
    sp_session_reset(s);
    if (nonfinite_at) *nonfinite_at = 0;
    /* Row r predicts position r + 1, so feeding len - 1 tokens still scores position len - 1. */
    return window_check(&w, forward_window(s, &w, feed, err), nonfinite_at, err);
}

size_t sp_ppl_window_batch(const sp_session *s, size_t feed) {
    return sp_session_fused_nll(s) ? sp_session_nll_batch(s, feed) : 1;
}

/* The batch's NLLs of window j through the sink's row-order accumulation into nll[j·len ..]. */
static int take_window(const double *rows_nll, const int32_t *seq, size_t len, size_t feed,
                       size_t score_from, double *out, size_t *nonfinite_at, sp_error *err) {
    window_sink w;
    window_init(&w, seq, len, score_from, 0, out);
    size_t from = score_from - 1, rows = feed - from;
    for (size_t r0 = 0; r0 < rows; r0 += SP_LOGIT_BLOCK) {
        size_t nb = rows - r0 < SP_LOGIT_BLOCK ? rows - r0 : SP_LOGIT_BLOCK;
        memcpy(w.nll, rows_nll + r0, nb * sizeof *rows_nll);
        if (accumulate_rows(&w, from + r0, nb)) break;
    }
    return window_check(&w, SP_OK, nonfinite_at, err);
}

int sp_ppl_score_windows(sp_session *s, int32_t vocab, size_t count, const int32_t *seqs,
                         size_t len, size_t feed, size_t score_from, double *nll,
                         size_t *bad_window, size_t *nonfinite_at, sp_error *err) {
    *bad_window = 0;
    *nonfinite_at = 0;
    if (count == 1)
        return sp_ppl_score_window(s, vocab, seqs, len, feed, score_from, nll, nonfinite_at, err);
    size_t from = score_from - 1, rows = feed - from;
    int32_t *tokens = calloc(count * feed + 1, sizeof *tokens);
    int32_t *targets = calloc(count * feed + 1, sizeof *targets);
    double *rows_nll = malloc(count * rows * sizeof *rows_nll);
    int rc = tokens && targets && rows_nll ? SP_OK
                                           : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t j = 0; !rc && j < count; j++)
        for (size_t r = 0; r < feed; r++) {
            tokens[j * feed + r] = seqs[j * len + r];
            targets[j * feed + r] = r + 1 < len ? seqs[j * len + r + 1] : 0;
        }
    if (!rc)
        rc = sp_session_forward_nll_batch(s, tokens, count, feed, from, targets, rows_nll, err);
    for (size_t j = 0; !rc && j < count; j++) {
        rc = take_window(rows_nll + j * rows, seqs + j * len, len, feed, score_from,
                         nll + j * len, nonfinite_at, err);
        if (rc) *bad_window = j;
    }
    free(tokens);
    free(targets);
    free(rows_nll);
    return rc;
}
