/* test_cuda_parity.c — the CUDA backend (libsparsa-cuda.so, loaded by --device cuda) against
 * the CPU on every golden model of tests/fixtures/models and the interpreter's smoke models:
 * fp32 logits within 1e-4·max(1, |x|) and finite, the fused scoring head's NLL within 1e-4
 * relative of the CPU's logits reduced by sp_nll_of_row, decode (token by token) equal to
 * prefill within 1e-4, logits_from and blocks of rows, windows batched in one call equal to
 * one at a time, and bf16/tf32 perplexity within 5e-3 relative (scaled up for logits beyond
 * ±10, see check_low_precision). Without a GPU, driver
 * or module every test is skipped with the reason. The module is $SPARSA_CUDA_MODULE, else
 * libsparsa-cuda.so beside $SPARSA_BIN. */
#include <criterion/criterion.h>
#include <glob.h>
#include <libgen.h>
#include <math.h>

#include "sparsa_backend.h"
#include "sparsa_eval.h"
#include "tu_interp.h"

/* Points SPARSA_CUDA_MODULE at the module of this build unless the caller chose one. */
static void find_module(void) {
    const char *env = getenv("SPARSA_CUDA_MODULE");
    const char *bin = getenv("SPARSA_BIN");
    if ((env && *env) || !bin || !*bin) return;
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s", bin);
    snprintf(path, sizeof path, "%s/libsparsa-cuda.so", dirname(dir));
    setenv("SPARSA_CUDA_MODULE", path, 1);
}

/* The model on cuda:0 in prec; skips the test when this machine cannot run CUDA at all. */
static sp_model *open_gpu(const char *path, int prec) {
    find_module();
    sp_model_options o = {.device = "cuda:0", .precision = prec};
    sp_model *m = NULL;
    sp_error err = {0};
    int rc = sp_model_open_opts(path, &o, &m, &err);
    if (rc == SP_ERR_INPUT && (strstr(err.msg, "no CUDA") || strstr(err.msg, "cannot use CUDA")))
        cr_skip_test("%s", err.msg);
    cr_assert_eq(rc, 0, "%s on cuda:0: %s", path, err.msg);
    return m;
}

static sp_model *open_cpu(const char *path) {
    sp_model_options o = {.device = "cpu"};
    sp_model *m = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_model_open_opts(path, &o, &m, &err), 0, "%s: %s", path, err.msg);
    return m;
}

/* The golden models: every .sparsa of tests/fixtures/models, then the smoke models (written to
 * /tmp). */
typedef struct {
    char *path[64];
    int tmp[64];
    size_t n;
} model_list;

static void list_models(model_list *l) {
    memset(l, 0, sizeof *l);
    glob_t g;
    cr_assert_eq(glob("tests/fixtures/models/*.sparsa", 0, NULL, &g), 0, "no fixture models");
    for (size_t i = 0; i < g.gl_pathc && l->n < 62; i++) l->path[l->n++] = strdup(g.gl_pathv[i]);
    globfree(&g);
    const char *smoke[] = {"smoke-llama", "smoke-gemma"};
    for (size_t i = 0; i < 2; i++) {
        char *p = tu_tmp_path(smoke[i]);
        cr_assert_eq(tu_write_fixture_model(smoke[i], SP_F32, p), 0, "cannot build %s", smoke[i]);
        l->tmp[l->n] = 1;
        l->path[l->n++] = p;
    }
}

static void free_models(model_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        if (l->tmp[i]) remove(l->path[i]);
        free(l->path[i]);
    }
}

/* n tokens for a model: its fixture's tokens repeated (or ids i·7 mod vocab). */
static int32_t *tokens_for(const char *path, int32_t vocab, size_t n) {
    char tp[600];
    snprintf(tp, sizeof tp, "%.*s.tokens", (int)(strlen(path) - strlen(".sparsa")), path);
    size_t k = 0;
    int32_t *fix = access(tp, R_OK) == 0 ? tu_read_tokens(tp, &k) : NULL;
    int32_t *t = malloc(n * sizeof *t);
    for (size_t i = 0; i < n; i++) t[i] = k ? fix[i % k] : (int32_t)((i * 7 + 3) % (size_t)vocab);
    free(fix);
    return t;
}

/* Largest |a − b| / (tol·max(1, |b|)); fails on a non-finite a. */
static double worst_ratio(const float *a, const float *b, size_t count, double tol,
                          const char *what) {
    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        cr_assert(isfinite(a[i]), "%s: value %zu is %g", what, i, a[i]);
        double r = fabs((double)a[i] - b[i]) / (tol * fmax(1.0, fabs(b[i])));
        if (!(r <= worst)) worst = r;
    }
    return worst;
}

static size_t test_tokens(const sp_model *m, size_t want) {
    uint64_t ctx = sp_model_context_length(m);
    return ctx && ctx < want ? (size_t)ctx : want;
}

Test(cuda_parity, logits_fp32_every_golden_model) {
    model_list l;
    list_models(&l);
    for (size_t i = 0; i < l.n; i++) {
        sp_model *g = open_gpu(l.path[i], SP_PREC_FP32), *c = open_cpu(l.path[i]);
        size_t vocab = (size_t)sp_model_vocab_size(c), n = test_tokens(c, 64);
        int32_t *tok = tokens_for(l.path[i], (int32_t)vocab, n);
        float *want = tu_logits(c, tok, n, 0, 0), *got = tu_logits(g, tok, n, 0, 0);
        cr_assert(want && got, "%s: a forward failed", l.path[i]);
        double w = worst_ratio(got, want, n * vocab, 1e-4, l.path[i]);
        cr_log_info("%s: fp32 logits worst |diff|/tol = %.3g", l.path[i], w);
        cr_expect(w <= 1.0, "%s: logits differ from the CPU by %.3g × 1e-4", l.path[i], w);
        free(want);
        free(got);
        free(tok);
        sp_model_free(g);
        sp_model_free(c);
    }
    free_models(&l);
}

/* NLL of rows [from, n) with targets tok[r + 1]: fused on the GPU, sink + sp_nll_of_row on
 * the CPU; returns the worst relative difference of the rows and of the sums. */
static double nll_rel_diff(sp_model *g, sp_model *c, const int32_t *tok, size_t n, size_t from,
                           double *ppl_gpu, double *ppl_cpu) {
    size_t vocab = (size_t)sp_model_vocab_size(c);
    float *logits = tu_logits(c, tok, n, 0, 0);
    cr_assert(logits);
    sp_session *s = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_session_create(g, n, 0, &s, &err), 0, "%s", err.msg);
    cr_assert(sp_session_fused_nll(s), "the CUDA session has no fused scoring head");
    int32_t *targets = calloc(n, sizeof *targets);
    double *nll = calloc(n, sizeof *nll);
    for (size_t r = 0; r + 1 < n; r++) targets[r] = tok[r + 1];
    cr_assert_eq(sp_session_forward_nll(s, tok, n - 1, from, targets, nll, &err), 0, "%s", err.msg);
    double worst = 0, sum_g = 0, sum_c = 0;
    for (size_t r = from; r + 1 < n; r++) {
        double want = sp_nll_of_row(logits + r * vocab, (int32_t)vocab, targets[r]);
        double got = nll[r - from];
        cr_assert(isfinite(got), "row %zu: nll %g", r, got);
        double d = fabs(got - want) / fmax(1.0, fabs(want));
        if (d > worst) worst = d;
        sum_g += got;
        sum_c += want;
    }
    *ppl_gpu = exp(sum_g / (double)(n - 1 - from));
    *ppl_cpu = exp(sum_c / (double)(n - 1 - from));
    double dp = fabs(*ppl_gpu - *ppl_cpu) / *ppl_cpu;
    sp_session_free(s);
    free(targets);
    free(nll);
    free(logits);
    return dp > worst ? dp : worst;
}

Test(cuda_parity, fused_nll_fp32_every_golden_model) {
    model_list l;
    list_models(&l);
    for (size_t i = 0; i < l.n; i++) {
        sp_model *g = open_gpu(l.path[i], SP_PREC_FP32), *c = open_cpu(l.path[i]);
        size_t n = test_tokens(c, 64);
        int32_t *tok = tokens_for(l.path[i], sp_model_vocab_size(c), n);
        double pg, pc, d = nll_rel_diff(g, c, tok, n, 3, &pg, &pc);
        cr_log_info("%s: fp32 ppl %.6f (cpu %.6f), worst relative nll diff %.3g", l.path[i], pg,
                    pc, d);
        cr_expect(d <= 1e-4, "%s: nll differs by %.3g relative", l.path[i], d);
        free(tok);
        sp_model_free(g);
        sp_model_free(c);
    }
    free_models(&l);
}

/* The scoring head in vocabulary chunks of 7 (partial last chunk) equals one chunk. */
Test(cuda_parity, fused_nll_in_small_vocabulary_chunks) {
    setenv("SPARSA_CUDA_SCORE_CHUNK", "7", 1);
    const char *path = "tests/fixtures/models/hf-gemma2-f32.sparsa";
    sp_model *g = open_gpu(path, SP_PREC_FP32), *c = open_cpu(path);
    int32_t *tok = tokens_for(path, sp_model_vocab_size(c), 64);
    double pg, pc, d = nll_rel_diff(g, c, tok, 64, 0, &pg, &pc);
    cr_log_info("chunks of 7: ppl %.6f (cpu %.6f), worst %.3g", pg, pc, d);
    cr_expect(d <= 1e-4, "chunked nll differs by %.3g relative", d);
    unsetenv("SPARSA_CUDA_SCORE_CHUNK");
    free(tok);
    sp_model_free(g);
    sp_model_free(c);
}

Test(cuda_parity, decode_equals_prefill) {
    model_list l;
    list_models(&l);
    for (size_t i = 0; i < l.n; i++) {
        sp_model *g = open_gpu(l.path[i], SP_PREC_FP32);
        size_t vocab = (size_t)sp_model_vocab_size(g), n = test_tokens(g, 40);
        int32_t *tok = tokens_for(l.path[i], (int32_t)vocab, n);
        float *full = tu_logits(g, tok, n, 0, 0), *one = tu_logits(g, tok, n, 1, 0);
        float *five = tu_logits(g, tok, n, 5, 0);
        cr_assert(full && one && five, "%s: a forward failed", l.path[i]);
        double w1 = worst_ratio(one, full, n * vocab, 1e-4, l.path[i]);
        double w5 = worst_ratio(five, full, n * vocab, 1e-4, l.path[i]);
        cr_expect(w1 <= 1.0 && w5 <= 1.0, "%s: decode differs from prefill (%.3g, %.3g × 1e-4)",
                  l.path[i], w1, w5);
        free(full);
        free(one);
        free(five);
        free(tok);
        sp_model_free(g);
    }
    free_models(&l);
}

/* More rows than one logits block (256), logits from row 100, and a fused NLL over them. */
Test(cuda_parity, long_window_blocks_and_logits_from) {
    const char *path = "tests/fixtures/models/hf-llama-f32.sparsa";
    sp_model *g = open_gpu(path, SP_PREC_FP32), *c = open_cpu(path);
    size_t vocab = (size_t)sp_model_vocab_size(c), n = test_tokens(c, 600);
    cr_assert(n > 300, "the model's context is %zu", n);
    int32_t *tok = tokens_for(path, (int32_t)vocab, n);
    float *want = tu_logits(c, tok, n, 0, 0);
    float *got = calloc(n * vocab, sizeof *got);
    sp_session *s = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_session_create(g, n, 0, &s, &err), 0, "%s", err.msg);
    tu_collect col = {got, vocab, 0, 0};
    cr_assert_eq(sp_session_forward(s, tok, n, 100, tu_collect_sink, &col, &err), 0, "%s", err.msg);
    cr_assert_eq(col.rows_seen, n - 100);
    double w = worst_ratio(got + 100 * vocab, want + 100 * vocab, (n - 100) * vocab, 1e-4, path);
    cr_expect(w <= 1.0, "rows 100..%zu differ by %.3g × 1e-4", n, w);
    sp_session_free(s);
    double pg, pc, d = nll_rel_diff(g, c, tok, n, 1, &pg, &pc);
    cr_expect(d <= 1e-4, "nll over %zu rows differs by %.3g relative", n, d);
    free(want);
    free(got);
    free(tok);
    sp_model_free(g);
    sp_model_free(c);
}

/* Mean over rows of KL(softmax(p) || softmax(q)), in double. */
static double mean_kl(const float *p, const float *q, size_t rows, size_t vocab) {
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *a = p + r * vocab, *b = q + r * vocab;
        double ma = a[0], mb = b[0], sa = 0, sb = 0, kl = 0;
        for (size_t i = 1; i < vocab; i++) ma = fmax(ma, a[i]), mb = fmax(mb, b[i]);
        for (size_t i = 0; i < vocab; i++) sa += exp(a[i] - ma), sb += exp(b[i] - mb);
        for (size_t i = 0; i < vocab; i++) {
            double la = a[i] - ma - log(sa), lb = b[i] - mb - log(sb);
            kl += exp(la) * (la - lb);
        }
        total += kl;
    }
    return total / (double)rows;
}

/* Largest |x| of count values. */
static double max_abs(const float *x, size_t count) {
    double m = 0;
    for (size_t i = 0; i < count; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}

/* bf16 and tf32: perplexity within 5e-3 relative of the CPU's fp32 on every golden model; the
 * mean KL divergence of the CPU's fp32 distributions to the GPU's is reported. bf16 keeps 8
 * significant bits of every product's inputs, so a logit's error grows with its size: the
 * bound is 5e-3 for logits within ±10 and grows in proportion to the largest |logit| beyond
 * (the tied-embedding Llama fixtures reach ±39 and a perplexity of 5·10^8, where |ΔPPL|/PPL is
 * the mean NLL's absolute error). */
static void check_low_precision(int prec, const char *name) {
    model_list l;
    list_models(&l);
    for (size_t i = 0; i < l.n; i++) {
        sp_model *g = open_gpu(l.path[i], prec), *c = open_cpu(l.path[i]);
        size_t n = test_tokens(c, 64);
        int32_t *tok = tokens_for(l.path[i], sp_model_vocab_size(c), n);
        double pg, pc;
        nll_rel_diff(g, c, tok, n, 3, &pg, &pc);
        double dp = fabs(pg - pc) / pc;
        size_t vocab = (size_t)sp_model_vocab_size(c);
        float *lc = tu_logits(c, tok, n, 0, 0), *lg = tu_logits(g, tok, n, 0, 0);
        cr_assert(lc && lg, "%s: a forward failed", l.path[i]);
        double kl = mean_kl(lc, lg, n, vocab), big = max_abs(lc, n * vocab);
        double tol = 5e-3 * fmax(1.0, big / 10.0);
        cr_log_info("%s: %s ppl %.6f, cpu fp32 %.6f, |dPPL|/PPL = %.3g (bound %.3g), mean KL %.3g",
                    l.path[i], name, pg, pc, dp, tol, kl);
        cr_expect(isfinite(kl), "%s: KL is %g", l.path[i], kl);
        cr_expect(dp <= tol, "%s: %s perplexity off by %.3g relative (bound %.3g)", l.path[i],
                  name, dp, tol);
        free(lc);
        free(lg);
        free(tok);
        sp_model_free(g);
        sp_model_free(c);
    }
    free_models(&l);
}

Test(cuda_parity, bf16_perplexity_every_golden_model) { check_low_precision(SP_PREC_BF16, "bf16"); }
Test(cuda_parity, tf32_perplexity_every_golden_model) { check_low_precision(SP_PREC_TF32, "tf32"); }

/* NLLs of n_seq windows of n tokens (window b: tok[b·n ..]) scored from row `from`: batched in
 * one call when batch, else one window at a time on a reset session. */
static double *window_nlls(sp_model *g, const int32_t *tok, size_t n_seq, size_t n, size_t from,
                           int batch) {
    sp_session *s = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_session_create(g, n, 0, &s, &err), 0, "%s", err.msg);
    int32_t *targets = calloc(n_seq * n, sizeof *targets);
    double *nll = calloc(n_seq * (n - from), sizeof *nll);
    for (size_t i = 0; i + 1 < n_seq * n; i++) targets[i] = tok[i + 1];
    if (batch) {
        cr_assert_geq(sp_session_nll_batch(s, n), n_seq, "the session batches %zu windows of %zu",
                      sp_session_nll_batch(s, n), n);
        cr_assert_eq(sp_session_forward_nll_batch(s, tok, n_seq, n, from, targets, nll, &err), 0,
                     "%s", err.msg);
        cr_assert_eq(sp_session_position(s), n);
    }
    for (size_t b = 0; !batch && b < n_seq; b++) {
        sp_session_reset(s);
        cr_assert_eq(sp_session_forward_nll(s, tok + b * n, n, from, targets + b * n,
                                            nll + b * (n - from), &err), 0, "%s", err.msg);
    }
    sp_session_free(s);
    free(targets);
    return nll;
}

/* Windows batched across the GPU give each window's NLLs as one window at a time does (the
 * products see more rows, so only their summation order may differ): every golden model in
 * fp32 and bf16, scored from row 0 (the rows of all windows as one range) and from row 5 (per
 * window). */
static void check_batched_windows(int prec, double tol) {
    model_list l;
    list_models(&l);
    for (size_t i = 0; i < l.n; i++) {
        sp_model *g = open_gpu(l.path[i], prec);
        size_t n = test_tokens(g, 48), n_seq = 3;
        int32_t *tok = tokens_for(l.path[i], sp_model_vocab_size(g), n_seq * n + 7);
        for (size_t from = 0; from <= 5; from += 5) {
            double *one = window_nlls(g, tok + 7, n_seq, n, from, 0);
            double *all = window_nlls(g, tok + 7, n_seq, n, from, 1);
            double worst = 0;
            for (size_t r = 0; r < n_seq * (n - from); r++) {
                cr_assert(isfinite(all[r]), "%s: row %zu: nll %g", l.path[i], r, all[r]);
                worst = fmax(worst, fabs(all[r] - one[r]) / fmax(1.0, fabs(one[r])));
            }
            cr_log_info("%s: %zu windows of %zu batched, from %zu: worst relative nll diff %.3g",
                        l.path[i], n_seq, n, from, worst);
            cr_expect(worst <= tol, "%s: batched windows differ by %.3g relative", l.path[i],
                      worst);
            free(one);
            free(all);
        }
        free(tok);
        sp_model_free(g);
    }
    free_models(&l);
}

Test(cuda_parity, batched_windows_fp32) { check_batched_windows(SP_PREC_FP32, 1e-6); }
Test(cuda_parity, batched_windows_bf16) { check_batched_windows(SP_PREC_BF16, 1e-5); }

/* A GPU index past the last is an input error naming the count. */
Test(cuda_errors, device_out_of_range) {
    find_module();
    sp_model *m = open_gpu("tests/fixtures/models/hf-llama-f32.sparsa", SP_PREC_FP32);
    sp_model_free(m);
    sp_model_options o = {.device = "cuda:999"};
    sp_error err = {0};
    cr_assert_eq(sp_model_open_opts("tests/fixtures/models/hf-llama-f32.sparsa", &o, &m, &err),
                 SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "out of range"), "%s", err.msg);
}
