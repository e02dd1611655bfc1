/* test_attention_models.c — the attention family end to end: every attention-variant fixture
 * made by the PyTorch reference (tests/fixtures/models, see its README) runs through the
 * interpreter. Checks, per model:
 *  - prefill logits match the reference within 1e-4·max(1, |x|) at every position;
 *  - token-by-token decode matches prefill within 1e-5·max(1, |x|);
 *  - the sparsity statistics: entmax-family models are genuinely sparse (the measured fraction
 *    of exactly-zero weights is printed and must be close to the reference's own count). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_interp.h"
#include "tu.h"

#define DIR "tests/fixtures/models/"

typedef struct {
    float *buf;
    size_t vocab, rows;
} collect;

static int collect_sink(void *user, size_t first_row, size_t n_rows, const float *logits) {
    collect *c = user;
    memcpy(c->buf + (c->rows + first_row) * c->vocab, logits, n_rows * c->vocab * sizeof(float));
    return 0;
}

static size_t read_tokens(const char *path, int32_t *ids, size_t cap) {
    size_t len = 0;
    char *raw = tu_read_file(path, &len);
    cr_assert(raw, "cannot read %s", path);
    char *txt = malloc(len + 1); /* tu_read_file does not terminate the bytes */
    memcpy(txt, raw, len);
    txt[len] = 0;
    free(raw);
    size_t n = 0;
    for (char *p = txt; *p && n < cap;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[n++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == ' ' || *p == '\n') p++;
    }
    free(txt);
    return n;
}

/* Returns the zero fraction from the stats of the prefill run. */
static double check_model(const char *name, double zero_min, double zero_max) {
    /* One thread: the checks are about numbers, and a shared machine makes thread teams slow.
     * Thread-count independence is checked separately below. */
    const int threads = 1;
    char path[256];
    int32_t ids[256];
    snprintf(path, sizeof path, DIR "%s.tokens", name);
    size_t n = read_tokens(path, ids, 256);
    cr_assert(n > 1);

    sp_model *m = NULL;
    sp_error err = {0, ""};
    snprintf(path, sizeof path, DIR "%s.sparsa", name);
    cr_assert_eq(sp_model_open(path, &m, &err), 0, "%s: %s", name, err.msg);
    const size_t vocab = (size_t)sp_model_vocab_size(m);
    snprintf(path, sizeof path, DIR "%s.logits", name);
    size_t bytes = 0;
    float *ref = tu_read_file(path, &bytes);
    cr_assert(ref && bytes == n * vocab * sizeof(float), "%s: logits size", name);

    sp_session *s = NULL;
    cr_assert_eq(sp_session_create(m, n, threads, &s, &err), 0, "%s: %s", name, err.msg);
    sp_session_enable_stats(s, 1);
    collect pre = {malloc(n * vocab * sizeof(float)), vocab, 0};
    cr_assert_eq(sp_session_forward(s, ids, n, 0, collect_sink, &pre, &err), 0, "%s: %s", name,
                 err.msg);

    double worst = 0;
    for (size_t i = 0; i < n * vocab; i++) {
        double tol = 1e-4 * fmax(1.0, fabs(ref[i]));
        double dlt = fabs((double)pre.buf[i] - ref[i]);
        cr_assert(dlt <= tol, "%s: logit [%zu][%zu] = %.7g, reference %.7g", name, i / vocab,
                  i % vocab, (double)pre.buf[i], (double)ref[i]);
        if (dlt / fmax(1.0, fabs(ref[i])) > worst) worst = dlt / fmax(1.0, fabs(ref[i]));
    }

    uint64_t vis = 0, sup = 0;
    size_t layers = sp_model_layer_count(m);
    for (size_t l = 0; l < layers; l++) {
        const sp_head_stats *hs = sp_session_stats(s, l);
        for (int h = 0; h < sp_model_attention_heads(m, l); h++) {
            vis += hs[h].visible;
            sup += hs[h].support;
        }
    }
    double zeros = vis ? 1.0 - (double)sup / (double)vis : 0.0;

    /* decode, one token at a time */
    sp_session_reset(s);
    collect dec = {malloc(n * vocab * sizeof(float)), vocab, 0};
    double worst_dec = 0;
    for (size_t i = 0; i < n; i++) {
        dec.rows = i;
        cr_assert_eq(sp_session_forward(s, ids + i, 1, 0, collect_sink, &dec, &err), 0, "%s: %s",
                     name, err.msg);
    }
    for (size_t i = 0; i < n * vocab; i++) {
        double dlt = fabs((double)dec.buf[i] - pre.buf[i]) / fmax(1.0, fabs(pre.buf[i]));
        cr_assert(dlt <= 1e-5, "%s: decode logit [%zu][%zu] = %.7g, prefill %.7g", name,
                  i / vocab, i % vocab, (double)dec.buf[i], (double)pre.buf[i]);
        if (dlt > worst_dec) worst_dec = dlt;
    }
    printf("%-34s max rel |d| vs reference %.2e, decode vs prefill %.2e, zero fraction %.4f\n",
           name, worst, worst_dec, zeros);
    cr_assert(zeros >= zero_min && zeros <= zero_max, "%s: zero fraction %.4f not in [%g, %g]",
              name, zeros, zero_min, zero_max);
    free(pre.buf);
    free(dec.buf);
    free(ref);
    sp_session_free(s);
    sp_model_free(m);
    return zeros;
}

/* Zero-fraction bounds bracket the reference's own count (tests/fixtures/models/MANIFEST.json);
 * softmax-family models have none, entmax-family models are mostly zeros. */
Test(attention_models, softmax_rope) { check_model("sparse-gemma2-softmax-rope-bf16", 0, 0.001); }
Test(attention_models, entmax15_nape) { check_model("sg2-entmax15-nape-bf16", 0.90, 0.95); }
Test(attention_models, asentmax_nape_bias) { check_model("sg2-asentmax-nape-bf16", 0.91, 0.96); }
Test(attention_models, asentmax_nape_nobias) {
    check_model("sg2-asentmax-nape-nobias-bf16", 0.91, 0.96);
}
Test(attention_models, ssmax_nape) { check_model("sg2-ssmax-nape-bf16", 0, 0.01); }
Test(attention_models, sparsemax_nope) { check_model("sg2-sparsemax-nope-bf16", 0.91, 0.96); }
Test(attention_models, entmax13_rope) { check_model("sg2-entmax13-rope-bf16", 0.85, 0.91); }
Test(attention_models, stickbreaking) { check_model("sg2-stickbreaking-bf16", 0, 0.01); }
Test(attention_models, topk_nape) { check_model("sg2-topk-nape-bf16", 0.74, 0.80); }
Test(attention_models, adaptive_softmax_nape) {
    check_model("sg2-adaptive-softmax-nape-bf16", 0, 0.01);
}
Test(attention_models, learn_entmax15_nape) { check_model("sg2-learn-entmax15-nape-bf16", 0.91, 0.96); }
Test(attention_models, entmax15_alibi) { check_model("sg2-entmax15-alibi-bf16", 0.88, 0.93); }

/* The same logits, bit for bit, with 1 and 2 threads. */
Test(attention_models, thread_count_does_not_change_logits) {
    const char *name = "sg2-asentmax-nape-bf16";
    char path[256];
    int32_t ids[256];
    snprintf(path, sizeof path, DIR "%s.tokens", name);
    size_t n = read_tokens(path, ids, 256);
    sp_model *m = NULL;
    sp_error err = {0, ""};
    snprintf(path, sizeof path, DIR "%s.sparsa", name);
    cr_assert_eq(sp_model_open(path, &m, &err), 0, "%s", err.msg);
    const size_t vocab = (size_t)sp_model_vocab_size(m);
    float *out[2];
    for (int t = 0; t < 2; t++) {
        sp_session *s = NULL;
        cr_assert_eq(sp_session_create(m, n, t + 1, &s, &err), 0, "%s", err.msg);
        collect c = {malloc(n * vocab * sizeof(float)), vocab, 0};
        cr_assert_eq(sp_session_forward(s, ids, n, 0, collect_sink, &c, &err), 0, "%s", err.msg);
        out[t] = c.buf;
        sp_session_free(s);
    }
    cr_assert_eq(memcmp(out[0], out[1], n * vocab * sizeof(float)), 0);
    free(out[0]);
    free(out[1]);
    sp_model_free(m);
}
