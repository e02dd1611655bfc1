/* test_attention_qscale_calls.c — a model with a query scale (ASEntmax, SSMax) gives the same
 * logits bit for bit however a window reaches the attention op: one prefill of more rows than
 * the per-row scratch holds (the op computes every row's scale first and runs attention once),
 * the same window in two calls that start mid-chunk, and in three calls of which one fits the
 * scratch (the op's chunked path); with 1 and 2 threads. The sparsity statistics (support, key tiles skipped) agree too. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_interp.h"

#define N_TOKENS 700 /* more than two chunks of SP_ROW_CHUNK (256) rows, not a multiple */

typedef struct {
    float *buf;
    size_t vocab, first;
} collect;

static int collect_sink(void *user, size_t first_row, size_t n_rows, const float *logits) {
    collect *c = user;
    memcpy(c->buf + (c->first + first_row) * c->vocab, logits, n_rows * c->vocab * sizeof(float));
    return 0;
}

typedef struct run_result {
    float *logits;        /* [N_TOKENS][vocab] */
    uint64_t support, tiles, skipped;
} run_result;

/* Runs ids through a fresh session in calls of the given sizes (summing to N_TOKENS). */
static run_result run_calls(sp_model *m, const int32_t *ids, const size_t *calls, int threads) {
    sp_error err = {0, ""};
    sp_session *s = NULL;
    cr_assert_eq(sp_session_create(m, N_TOKENS, threads, &s, &err), 0, "%s", err.msg);
    sp_session_enable_stats(s, 1);
    const size_t vocab = (size_t)sp_model_vocab_size(m);
    run_result r = {.logits = malloc(N_TOKENS * vocab * sizeof(float))};
    cr_assert(r.logits);
    size_t done = 0;
    for (size_t i = 0; done < N_TOKENS; i++) {
        collect c = {r.logits, vocab, done};
        cr_assert_eq(sp_session_forward(s, ids + done, calls[i], 0, collect_sink, &c, &err), 0,
                     "%s", err.msg);
        done += calls[i];
    }
    for (size_t l = 0; l < sp_model_layer_count(m); l++) {
        const sp_head_stats *st = sp_session_stats(s, l);
        for (int h = 0; h < sp_model_attention_heads(m, l); h++) {
            r.support += st[h].support;
            r.tiles += st[h].tiles;
            r.skipped += st[h].tiles_skipped;
        }
    }
    sp_session_free(s);
    return r;
}

/* sparse: the model's normaliser has exact zeros, so some key tiles must be skipped. */
static void check_model(const char *path, int sparse) {
    sp_model *m = NULL;
    sp_error err = {0, ""};
    cr_assert_eq(sp_model_open(path, &m, &err), 0, "%s", err.msg);
    const int32_t vocab = sp_model_vocab_size(m);
    int32_t ids[N_TOKENS];
    for (int i = 0; i < N_TOKENS; i++) ids[i] = (int32_t)((7919u * (unsigned)i + 13u) % (unsigned)vocab);
    const size_t whole[] = {N_TOKENS}, split[] = {300, N_TOKENS - 300},
                 three[] = {100, 157, N_TOKENS - 257};
    const size_t bytes = (size_t)N_TOKENS * (size_t)vocab * sizeof(float);
    run_result ref = run_calls(m, ids, whole, 1);
    if (sparse) /* else the bounds that let tiles be skipped would not be exercised */
        cr_assert_gt(ref.skipped, 0, "%s: no key tile skipped", path);
    const run_result other[] = {run_calls(m, ids, whole, 2), run_calls(m, ids, split, 1),
                                run_calls(m, ids, split, 2), run_calls(m, ids, three, 2)};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        cr_expect_eq(memcmp(ref.logits, other[i].logits, bytes), 0, "%s: run %zu differs", path, i);
        cr_expect_eq(ref.support, other[i].support, "%s: run %zu support", path, i);
        cr_expect_eq(ref.tiles, other[i].tiles, "%s: run %zu tiles", path, i);
        cr_expect_eq(ref.skipped, other[i].skipped, "%s: run %zu skipped", path, i);
        free(other[i].logits);
    }
    free(ref.logits);
    sp_model_free(m);
}

Test(attention_qscale_calls, asentmax_nape) { check_model("examples/models/asentmax_nape.sparsa", 1); }
Test(attention_qscale_calls, ssmax_nape) { check_model("examples/models/ssmax_nape.sparsa", 0); }
