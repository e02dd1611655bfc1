/* perplexity.c — window planning for each protocol and the per-window sums behind mean NLL,
 * PPL and their standard errors (pure logic; ppl_run.c drives the interpreter). The protocols
 * are stated in README.md ("Perplexity protocols"); comments here say how the code maps onto
 * them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_eval.h"

/* ---- planning ------------------------------------------------------------------------------ */

/* Corpus tokens inside one window: L, or L-1 when BOS is prepended. */
static size_t corpus_per_window(const sp_ppl_protocol *p, size_t ctx) {
    return (p->score == SP_SCORE_ALL && p->bos == SP_BOS_PREPEND) ? ctx - 1 : ctx;
}

size_t sp_ppl_min_tokens(const sp_ppl_protocol *p, size_t ctx) {
    if (ctx < 2) return 0;
    /* second-half: the stream is BOS + corpus, one window needs L stream tokens. */
    if (p->score == SP_SCORE_SECOND_HALF) return ctx - 1;
    return corpus_per_window(p, ctx);
}

int sp_ppl_plan_make(const sp_ppl_protocol *p, size_t ctx, size_t n_tokens, sp_ppl_plan *out,
                     sp_error *err) {
    memset(out, 0, sizeof *out);
    out->ctx = ctx;
    if (p->score == SP_SCORE_SECOND_HALF) {
        /* llama.cpp: first = L/2, targets first+1 .. L-1, so L >= 3 for one target. */
        if (ctx < 3)
            return sp_fail(err, SP_ERR_INPUT, "context %zu is too small for --score second-half "
                           "(needs at least 3)", ctx);
        if (p->stride)
            return sp_fail(err, SP_ERR_INPUT, "--stride cannot be combined with --score second-half");
        size_t stream = n_tokens + 1;
        out->windows = stream / ctx;
        out->step = ctx;
        out->lead = 0;
        out->stream_bos = 1;
        out->replace_first = 1;
        out->score_from = out->first_score_from = ctx / 2 + 1;
    } else {
        if (ctx < 2)
            return sp_fail(err, SP_ERR_INPUT, "context %zu is too small (needs at least 2)", ctx);
        size_t c = corpus_per_window(p, ctx);
        out->lead = p->bos == SP_BOS_PREPEND ? 1 : 0;
        out->replace_first = p->bos == SP_BOS_REPLACE;
        out->first_score_from = 1;
        if (p->stride) {
            /* Hugging Face sliding window: a window every S corpus tokens; a later window scores
             * only the S targets that are new (its last S positions), so every corpus token
             * after the first is scored exactly once. S <= c keeps windows gap-free. */
            if (p->stride > c)
                return sp_fail(err, SP_ERR_INPUT, "--stride %zu is larger than the %zu corpus "
                               "tokens of a window at context %zu", p->stride, c, ctx);
            out->step = p->stride;
            out->windows = n_tokens >= c ? 1 + (n_tokens - c) / p->stride : 0;
            out->score_from = ctx > p->stride ? ctx - p->stride : 1;
            if (out->score_from < 1) out->score_from = 1;
        } else {
            out->step = c;
            out->windows = n_tokens / c;
            out->score_from = 1;
        }
    }
    if (out->windows == 0) {
        size_t need = sp_ppl_min_tokens(p, ctx);
        return sp_fail(err, SP_ERR_INPUT, "%zu tokens are too few for context %zu (needs at "
                       "least %zu)", n_tokens, ctx, need);
    }
    out->tokens_scored = (ctx - out->first_score_from) +
                         (out->windows - 1) * (ctx - out->score_from);
    return SP_OK;
}

size_t sp_ppl_window_input(const sp_ppl_plan *plan, const int32_t *corpus, size_t n_tokens,
                           int32_t bos, size_t k, int32_t *input) {
    size_t start = k * plan->step;
    (void)n_tokens;
    for (size_t p = 0; p < plan->ctx; p++) {
        if (p < plan->lead) {
            input[p] = bos;
            continue;
        }
        size_t i = start + p - plan->lead; /* index into the stream */
        if (plan->stream_bos)
            input[p] = i == 0 ? bos : corpus[i - 1];
        else
            input[p] = corpus[i];
    }
    if (plan->replace_first) input[0] = bos;
    return k == 0 ? plan->first_score_from : plan->score_from;
}

/* ---- accumulation ---------------------------------------------------------------------------- */

void sp_ppl_acc_init(sp_ppl_acc *a) { memset(a, 0, sizeof *a); }

void sp_ppl_acc_window(sp_ppl_acc *a, uint64_t n, double s, double sq) {
    a->windows++;
    a->tokens += n;
    a->nll_sum += s;
    a->nll_sq_sum += sq;
    a->win_nll_sum += s;
    a->win_sq_sum += s * s;
    a->win_cross += s * (double)n;
    a->win_n_sq += (double)n * (double)n;
}

void sp_ppl_acc_merge(sp_ppl_acc *a, const sp_ppl_acc *b) {
    a->windows += b->windows;
    a->tokens += b->tokens;
    a->nll_sum += b->nll_sum;
    a->nll_sq_sum += b->nll_sq_sum;
    a->win_nll_sum += b->win_nll_sum;
    a->win_sq_sum += b->win_sq_sum;
    a->win_cross += b->win_cross;
    a->win_n_sq += b->win_n_sq;
}

void sp_ppl_result_of(const sp_ppl_acc *a, sp_ppl_result *r) {
    memset(r, 0, sizeof *r);
    r->windows = a->windows;
    r->tokens_scored = a->tokens;
    if (a->tokens == 0) {
        r->mean_nll = r->ppl = r->nll_stderr = r->ppl_stderr = NAN;
        r->nll_stderr_tokens = r->ppl_stderr_tokens = NAN;
        return;
    }
    double n = (double)a->tokens;
    double mu = a->nll_sum / n;
    r->mean_nll = mu;
    r->ppl = exp(mu);
    /* Over windows: mu is a ratio of window sums (s_w over n_w); its standard error treats
     * windows, not tokens, as the independent samples (residuals e_w = s_w - mu n_w). With equal
     * window sizes this is the sample standard deviation of window means over sqrt(W). */
    if (a->windows >= 2) {
        double w = (double)a->windows;
        double ss = a->win_sq_sum - 2.0 * mu * a->win_cross + mu * mu * a->win_n_sq;
        if (ss < 0) ss = 0;
        r->nll_stderr = sqrt(w / (w - 1.0) * ss) / n;
        r->ppl_stderr = r->ppl * r->nll_stderr;
    } else {
        r->nll_stderr = r->ppl_stderr = NAN;
    }
    /* Over tokens, exactly as llama-perplexity: sqrt((mean(nll²) - mean(nll)²) / (N - 1)). */
    if (a->tokens >= 2) {
        double var = a->nll_sq_sum / n - mu * mu;
        if (var < 0) var = 0;
        r->nll_stderr_tokens = sqrt(var / (n - 1.0));
        r->ppl_stderr_tokens = r->ppl * r->nll_stderr_tokens;
    } else {
        r->nll_stderr_tokens = r->ppl_stderr_tokens = NAN;
    }
}

/* ---- one row of logits ---------------------------------------------------------------------- */

double sp_nll_of_row(const float *row, int32_t vocab, int32_t target) {
    float mx = row[0];
    for (int32_t i = 1; i < vocab; i++)
        if (row[i] > mx) mx = row[i];
    /* expf of a non-positive argument is exact to < 1 ulp; the sum is kept in double. */
    double sum = 0.0;
    for (int32_t i = 0; i < vocab; i++) sum += (double)expf(row[i] - mx);
    return (double)mx + log(sum) - (double)row[target];
}

