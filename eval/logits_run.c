/* logits_run.c — the logits of one list of ids (sparsa_eval.h, "logits of one list of ids"):
 * checked against the model, one batched forward, rows written raw or summarised as the five
 * largest logits of each position. A row holding a NaN or infinite logit stops the run before
 * it is written: a non-finite value is never a result. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "sparsa_eval.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "logits_run.c writes host floats as little-endian"
#endif

int sp_logits_check(sp_model *m, const int32_t *ids, size_t n, sp_error *err) {
    int32_t vocab = sp_model_vocab_size(m);
    uint64_t ctx = sp_model_context_length(m);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return sp_fail(err, SP_ERR_INPUT, "token id %ld at position %zu is outside [0, %d)",
                           (long)ids[i], i, vocab);
    if (ctx && n > ctx)
        return sp_fail(err, SP_ERR_INPUT, "%zu tokens exceed the model's context length %llu",
                       n, (unsigned long long)ctx);
    return SP_OK;
}

typedef struct sink_ctx {
    FILE *raw, *summary;
    int json;                    /* the summary as JSON objects, one per position */
    int32_t vocab;
    int failed;                  /* a write failed, with errno write_errno */
    int write_errno;
    int nonfinite;               /* 1: bad_row holds a NaN or infinite logit at bad_id */
    size_t bad_row;
    int32_t bad_id;
} sink_ctx;

/* Finds the first non-finite logit of the block (recorded in c); 1 if there is one. */
static int find_nonfinite(sink_ctx *c, size_t first_row, size_t n_rows, const float *logits) {
    for (size_t r = 0; r < n_rows; r++)
        for (int32_t j = 0; j < c->vocab; j++)
            if (!isfinite(logits[r * (size_t)c->vocab + (size_t)j])) {
                c->nonfinite = 1;
                c->bad_row = first_row + r;
                c->bad_id = j;
                return 1;
            }
    return 0;
}

static int write_rows(void *user, size_t first_row, size_t n_rows, const float *logits) {
    sink_ctx *c = user;
    if (find_nonfinite(c, first_row, n_rows, logits)) return 1;
    size_t cnt = n_rows * (size_t)c->vocab;
    c->failed = fwrite(logits, sizeof(float), cnt, c->raw) != cnt;
    if (c->failed) c->write_errno = errno;
    return c->failed;
}

/* Per row: the five largest logits, largest first (lowest id first among equals). */
static int print_top5(void *user, size_t first_row, size_t n_rows, const float *logits) {
    sink_ctx *c = user;
    if (find_nonfinite(c, first_row, n_rows, logits)) return 1;
    for (size_t r = 0; r < n_rows; r++) {
        const float *row = logits + r * (size_t)c->vocab;
        int32_t top[5];
        int nt = 0;
        for (int32_t j = 0; j < c->vocab; j++) {
            if (nt == 5 && !(row[j] > row[top[4]])) continue;
            if (nt < 5) nt++;
            int at = nt - 1;
            for (; at > 0 && row[j] > row[top[at - 1]]; at--) top[at] = top[at - 1];
            top[at] = j;
        }
        if (c->json) {
            fprintf(c->summary, "%s{\"position\":%zu,\"top\":[", first_row + r ? "," : "",
                    first_row + r);
            for (int t = 0; t < nt; t++)
                fprintf(c->summary, "%s{\"id\":%d,\"logit\":%.9g}", t ? "," : "", top[t],
                        row[top[t]]);
            fputs("]}", c->summary);
            continue;
        }
        fprintf(c->summary, "%zu:", first_row + r);
        for (int t = 0; t < nt; t++) fprintf(c->summary, " %d=%.4f", top[t], row[top[t]]);
        fputc('\n', c->summary);
    }
    return 0;
}

static int run_logits(sp_model *m, const int32_t *ids, size_t n, int threads, FILE *raw,
                      FILE *summary, int json, sp_error *err) {
    sp_session *s = NULL;
    int rc = sp_session_create(m, n, threads, &s, err);
    if (rc) return rc;
    sink_ctx c = {.raw = raw, .summary = summary, .json = json,
                  .vocab = sp_model_vocab_size(m)};
    rc = sp_session_forward(s, ids, n, 0, raw ? write_rows : print_top5, &c, err);
    if (c.failed)
        rc = sp_fail(err, SP_ERR_RUNTIME, "cannot write the logits: %s", strerror(c.write_errno));
    if (c.nonfinite)
        rc = sp_fail(err, SP_ERR_RUNTIME, "non-finite logit at position %zu (id %d)", c.bad_row,
                     (int)c.bad_id);
    sp_session_free(s);
    return rc;
}

int sp_logits_run(sp_model *m, const int32_t *ids, size_t n, int threads, FILE *raw,
                  FILE *summary, sp_error *err) {
    return run_logits(m, ids, n, threads, raw, summary, 0, err);
}

int sp_logits_top_json(sp_model *m, const int32_t *ids, size_t n, int threads, FILE *rows,
                       sp_error *err) {
    return run_logits(m, ids, n, threads, NULL, rows, 1, err);
}
