/* kld_window.c — one `kld` window through two models: the window is fed in blocks of rows
 * appended to each session's KV cache; the base model's block is reduced to exp(logit - max)
 * per row, then the other model's block is compared with it row by row. Memory is
 * O(block × vocab); every sum is formed in row order, so results do not depend on threads.
 * docs/WORKBENCH.md gives the formulas. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist_rec.h"
#include "kld_window.h"

int kld_engine_init(kld_engine *k, size_t block, int32_t vocab, sp_error *err) {
    kld_rows *r = &k->rows;
    k->block = block;
    k->vocab = vocab;
    r->e = malloc(block * (size_t)vocab * sizeof *r->e);
    r->inv_sum = malloc(block * sizeof(double));
    r->lse_b = malloc(block * sizeof(double));
    r->ex_b = malloc(block * sizeof(double));
    r->top_b = malloc(block * sizeof(int32_t));
    r->kld = malloc(block * sizeof(double));
    r->nll_b = malloc(block * sizeof(double));
    r->nll_o = malloc(block * sizeof(double));
    r->dp = malloc(block * sizeof(double));
    r->same = malloc(block);
    if (!r->e || !r->inv_sum || !r->lse_b || !r->ex_b || !r->top_b || !r->kld || !r->nll_b ||
        !r->nll_o || !r->dp || !r->same)
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory (%zu rows of %d logits)", block,
                       (int)vocab);
    return SP_OK;
}

void kld_engine_free(kld_engine *k) {
    kld_rows *r = &k->rows;
    free(r->e);
    free(r->inv_sum);
    free(r->lse_b);
    free(r->ex_b);
    free(r->top_b);
    free(r->kld);
    free(r->nll_b);
    free(r->nll_o);
    free(r->dp);
    free(r->same);
    memset(r, 0, sizeof *r);
}

/* The block being compared: absolute rows [first, first + n) of the window. */
typedef struct block_sink {
    kld_engine *k;
    const int32_t *input;
    size_t first, n, ctx, score_from;
} block_sink;

/* Row r (absolute) predicts input[r + 1]; it is scored when score_from <= r + 1 < ctx. */
static int scored(const block_sink *b, size_t r) {
    return r + 1 >= b->score_from && r + 1 < b->ctx;
}

/* exp(x) for x <= 0 in double, to ~2 ulp: x = k ln 2 + r with |r| <= ln2/2, exp(r) by its
 * Taylor series to r^13 (remainder < 2e-16), times 2^k built in the exponent bits; k is rounded
 * by adding and subtracting 1.5 · 2^52. Written so the row loops below vectorise (libm's exp
 * does not), which keeps kld near the cost of two perplexity runs. Below -708 the result is 0
 * to within 1e-307. */
static inline double exp_nonpos(double x) {
    const double shift = 6755399441055744.0; /* 1.5 · 2^52 */
    x = x < -708.0 ? -708.0 : x;
    double t = x * 1.4426950408889634 + shift, k = t - shift;
    double r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&sb, &shift, sizeof sb);
    int64_t bits = (tb - sb + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* The largest logit (a vectorised reduction), then its first index. */
static int32_t row_max(const float *x, int32_t vocab) {
    float mx = x[0];
#pragma omp simd reduction(max : mx)
    for (int32_t i = 1; i < vocab; i++) mx = x[i] > mx ? x[i] : mx;
    int32_t top = 0;
    while (top < vocab - 1 && x[top] != mx) top++;
    return top;
}

/* Base row i: e = exp(x - max) in double, Σ e, Σ e·x, log-sum-exp, argmax, NLL. */
static void base_row(kld_engine *k, size_t i, const float *x, int32_t target) {
    kld_rows *r = &k->rows;
    int32_t v = k->vocab, top = row_max(x, v);
    double mx = x[top], sum = 0, ex = 0, *e = r->e + i * (size_t)v;
#pragma omp simd reduction(+ : sum, ex)
    for (int32_t j = 0; j < v; j++) {
        e[j] = exp_nonpos((double)x[j] - mx);
        sum += e[j];
        ex += e[j] * (double)x[j];
    }
    r->inv_sum[i] = 1.0 / sum;
    r->lse_b[i] = mx + log(sum);
    r->ex_b[i] = ex;
    r->top_b[i] = top;
    r->nll_b[i] = r->lse_b[i] - (double)x[target];
}

/* Other row i against the stored base row: KLD(base ‖ other) = Σ p (x_b - x_o) - lse_b + lse_o
 * with p = e / Σ e, so each logit of the other model is read twice and exp'd once. */
static void other_row(kld_engine *k, size_t i, const float *x, int32_t target) {
    kld_rows *r = &k->rows;
    int32_t v = k->vocab, top = row_max(x, v);
    const double *e = r->e + i * (size_t)v;
    double mx = x[top], sum = 0, ex = 0;
#pragma omp simd reduction(+ : sum, ex)
    for (int32_t j = 0; j < v; j++) {
        sum += exp_nonpos((double)x[j] - mx);
        ex += e[j] * (double)x[j];
    }
    double lse_o = mx + log(sum);
    r->kld[i] = (r->ex_b[i] - ex) * r->inv_sum[i] - r->lse_b[i] + lse_o;
    r->nll_o[i] = lse_o - (double)x[target];
    r->dp[i] = exp(-r->nll_o[i]) - exp(-r->nll_b[i]);
    r->same[i] = top == r->top_b[i];
}

static int sink(void *user, size_t first_row, size_t n_rows, const float *logits, int other) {
    block_sink *b = user;
    long nr = (long)n_rows;
    size_t v = (size_t)b->k->vocab;
#pragma omp parallel for schedule(static) if (n_rows * v >= 65536)
    for (long j = 0; j < nr; j++) {
        size_t i = first_row + (size_t)j, r = b->first + i;
        if (i >= b->n || !scored(b, r)) continue;
        if (other) other_row(b->k, i, logits + (size_t)j * v, b->input[r + 1]);
        else base_row(b->k, i, logits + (size_t)j * v, b->input[r + 1]);
    }
    return 0;
}

static int sink_base(void *user, size_t first_row, size_t n_rows, const float *logits) {
    return sink(user, first_row, n_rows, logits, 0);
}

static int sink_other(void *user, size_t first_row, size_t n_rows, const float *logits) {
    return sink(user, first_row, n_rows, logits, 1);
}

/* One scored position into the sums (and its window's NLL sums win). */
static int add_row(kld_sums *s, double win[4], double d, unsigned char same, double dp,
                   double nll_b, double nll_o, sp_error *err) {
    if (s->n == s->capacity)
        return sp_fail(err, SP_ERR_RUNTIME, "internal: more scored positions than planned");
    double dp2 = dp * dp;
    s->kld_all[s->n++] = (float)d;
    s->kld += d;
    s->kld_sq += d * d;
    s->same += same;
    s->dp_sq += dp2;
    s->dp_4 += dp2 * dp2;
    win[0] += nll_b;
    win[1] += nll_b * nll_b;
    win[2] += nll_o;
    win[3] += nll_o * nll_o;
    return SP_OK;
}

/* Adds the scored rows of the block, in row order (and records them for a split run). */
static int add_block(const block_sink *b, kld_sums *s, double win[4], sp_error *err) {
    const kld_rows *r = &b->k->rows;
    int rc = SP_OK;
    for (size_t i = 0; i < b->n && !rc; i++) {
        if (!scored(b, b->first + i)) continue;
        if (s->log) {
            rec_f64(s->log, r->kld[i]);
            rec_u8(s->log, r->same[i]);
            rec_f64(s->log, r->dp[i]);
            rec_f64(s->log, r->nll_b[i]);
            rec_f64(s->log, r->nll_o[i]);
        }
        rc = add_row(s, win, r->kld[i], r->same[i], r->dp[i], r->nll_b[i], r->nll_o[i], err);
    }
    return rc;
}

int kld_replay(kld_sums *sums, const char *recs, size_t len, size_t *windows, sp_error *err) {
    sp_ppl_acc_init(&sums->base);
    sp_ppl_acc_init(&sums->other);
    sums->kld = sums->kld_sq = sums->same = sums->dp_sq = sums->dp_4 = 0;
    sums->n = 0;
    *windows = 0;
    rec_reader rd = {recs, recs + len, 0};
    int rc = SP_OK;
    while (rd.p < rd.end && !rd.short_read && !rc) {
        uint64_t n = rec_get_u64(&rd);
        double win[4] = {0, 0, 0, 0};
        for (uint64_t i = 0; i < n && !rd.short_read && !rc; i++) {
            double d = rec_get_f64(&rd);
            unsigned char same = rec_get_u8(&rd);
            double dp = rec_get_f64(&rd), nll_b = rec_get_f64(&rd), nll_o = rec_get_f64(&rd);
            rc = add_row(sums, win, d, same, dp, nll_b, nll_o, err);
        }
        sp_ppl_acc_window(&sums->base, n, win[0], win[1]);
        sp_ppl_acc_window(&sums->other, n, win[2], win[3]);
        ++*windows;
    }
    if (!rc && rd.short_read)
        rc = sp_fail(err, SP_ERR_INPUT, "kld: the ranks' records are short");
    return rc;
}

int kld_window(kld_engine *k, const int32_t *input, size_t ctx, size_t score_from,
               kld_sums *sums, sp_error *err) {
    sp_session_reset(k->base);
    sp_session_reset(k->other);
    double win[4] = {0, 0, 0, 0};
    uint64_t before = sums->n;
    int rc = SP_OK;
    if (sums->log) rec_u64(sums->log, ctx - score_from); /* the window's rows follow */
    for (size_t first = 0; first < ctx && !rc; first += k->block) {
        size_t n = ctx - first < k->block ? ctx - first : k->block;
        block_sink b = {k, input, first, n, ctx, score_from};
        /* rows before score_from - 1 only fill the KV cache: no logits for them */
        size_t from = score_from - 1 > first ? score_from - 1 - first : 0;
        if (from > n) from = n;
        rc = sp_session_forward(k->base, input + first, n, from, sink_base, &b, err);
        if (!rc) rc = sp_session_forward(k->other, input + first, n, from, sink_other, &b, err);
        if (!rc) rc = add_block(&b, sums, win, err);
    }
    if (rc) return rc;
    uint64_t n = sums->n - before;
    if (n != ctx - score_from)
        return sp_fail(err, SP_ERR_RUNTIME, "internal: %llu of %zu targets received logits",
                       (unsigned long long)n, ctx - score_from);
    sp_ppl_acc_window(&sums->base, n, win[0], win[1]);
    sp_ppl_acc_window(&sums->other, n, win[2], win[3]);
    return SP_OK;
}
