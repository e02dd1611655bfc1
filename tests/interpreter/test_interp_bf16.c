/* test_interp_bf16.c — the CPU's opt-in bf16 compute (--precision bf16; model.c chooses it,
 * the linear and mlp ops run their products through kernels/gemm_bf16.h) on the golden smoke
 * models, f32 and bf16 stored weights:
 *  - every logit finite and within 0.1·max(1, |x|) of the fp32 run of the same file, and the
 *    mean KL divergence of the next-token distributions (fp32 ‖ bf16) below 1e-3 nats. The
 *    rounding of every product's operands to bf16 (8 bits of mantissa, 2⁻⁹ relative) is the
 *    only difference; through these random-weight models it moves logits of size ~1 by up to
 *    0.045 and gives a mean KL of 2e-5 to 5e-5 nats (measured), so the bounds leave a margin
 *    of 2 and 20, while a wrong pairing or layout moves logits by O(1);
 *  - with bf16 stored weights, within the same tolerance of the PyTorch fp32 logits;
 *  - 1 thread = 2 threads bit for bit; prefill within 1e-4·max(1, |x|) of token-by-token decode;
 *  - fp32 (the default) unchanged by a bf16 model open in the same process; tf32 refused.
 * On a CPU without AVX512_BF16 the open is refused in one line: checked on every machine with
 * SPARSA_GEMM_ISA=scalar, which takes the bf16 products away as such a CPU lacks them. */
#include <criterion/criterion.h>

#include "gemm_bf16.h"
#include "sparsa_backend.h"
#include "tu_interp.h"

#define LOGIT_TOL 0.1
#define KL_TOL 1e-3

static sp_model *open_with(const char *path, int precision) {
    sp_model_options o = {.device = "cpu", .precision = precision};
    sp_model *m = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_model_open_opts(path, &o, &m, &err), 0, "%s (%s): %s", path,
                 sp_precision_name(precision), err.msg);
    return m;
}

static char *fixture_file(const char *name, sp_dtype dt) {
    char *path = tu_tmp_path(name);
    cr_assert_eq(tu_write_fixture_model(name, dt, path), 0, "cannot build %s", name);
    return path;
}

static void need_bf16(void) {
    if (sp_gemm_bf16_available()) return;
    char *path = fixture_file("smoke-llama", SP_F32);
    sp_model_options o = {.device = "cpu", .precision = SP_PREC_BF16};
    sp_model *m = NULL;
    sp_error err = {0};
    int rc = sp_model_open_opts(path, &o, &m, &err);
    remove(path);
    free(path);
    cr_assert_eq(rc, SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "--precision bf16: this CPU has no AVX512_BF16"), "%s", err.msg);
    cr_skip("this CPU has no AVX512_BF16: checked that --precision bf16 is refused in one line");
}

/* Mean over rows of KL(softmax(p) ‖ softmax(q)), in nats. */
static double mean_kl(const float *p, const float *q, size_t rows, size_t vocab) {
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *a = p + r * vocab, *b = q + r * vocab;
        double ma = a[0], mb = b[0], za = 0, zb = 0, kl = 0;
        for (size_t v = 1; v < vocab; v++) {
            ma = fmax(ma, a[v]);
            mb = fmax(mb, b[v]);
        }
        for (size_t v = 0; v < vocab; v++) {
            za += exp(a[v] - ma);
            zb += exp(b[v] - mb);
        }
        for (size_t v = 0; v < vocab; v++) {
            double la = a[v] - ma - log(za), lb = b[v] - mb - log(zb);
            kl += exp(la) * (la - lb);
        }
        total += kl;
    }
    return total / (double)rows;
}

static void expect_close(const float *got, const float *want, size_t count, double rel,
                         const char *what) {
    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        cr_assert(isfinite(got[i]), "%s: logit %zu is %g", what, i, got[i]);
        double tol = rel * fmax(1.0, fabs(want[i]));
        worst = fmax(worst, fabs((double)got[i] - want[i]) / tol);
        cr_assert(fabs((double)got[i] - want[i]) <= tol, "%s: logit %zu: %.7g, want %.7g (tol %.3g)",
                  what, i, got[i], want[i], tol);
    }
    cr_log_info("%s: worst |diff| / tolerance = %.3g", what, worst);
}

static void check_against_fp32(const char *name, sp_dtype dt) {
    need_bf16();
    char *path = fixture_file(name, dt), what[128];
    snprintf(what, sizeof what, "%s stored %s", name, sp_dtype_name(dt));
    size_t n;
    int32_t *tok = tu_fixture_tokens(name, &n);
    sp_model *m32 = open_with(path, SP_PREC_FP32), *m16 = open_with(path, SP_PREC_BF16);
    size_t vocab = (size_t)sp_model_vocab_size(m32);
    float *ref = tu_logits(m32, tok, n, 0, 0), *got = tu_logits(m16, tok, n, 0, 0);
    cr_assert(ref && got);
    expect_close(got, ref, n * vocab, LOGIT_TOL, what);
    double kl = mean_kl(ref, got, n, vocab);
    cr_assert(kl >= 0 && kl <= KL_TOL, "%s: mean KL(fp32 || bf16) = %.3g nats", what, kl);
    cr_assert(memcmp(got, ref, n * vocab * sizeof(float)) != 0, "%s: bf16 gave the fp32 bits", what);
    cr_log_info("%s: mean KL(fp32 || bf16) = %.3g nats", what, kl);
    free(ref);
    free(got);
    free(tok);
    sp_model_free(m32);
    sp_model_free(m16);
    remove(path);
    free(path);
}

Test(interp_bf16, llama_f32_weights_close_to_fp32) { check_against_fp32("smoke-llama", SP_F32); }
Test(interp_bf16, llama_bf16_weights_close_to_fp32) { check_against_fp32("smoke-llama", SP_BF16); }
Test(interp_bf16, gemma_f32_weights_close_to_fp32) { check_against_fp32("smoke-gemma", SP_F32); }
Test(interp_bf16, gemma_f16_weights_close_to_fp32) { check_against_fp32("smoke-gemma", SP_F16); }

Test(interp_bf16, bf16_weights_close_to_the_reference) {
    need_bf16();
    static const char *names[] = {"smoke-llama", "smoke-gemma"};
    for (size_t i = 0; i < 2; i++) {
        char *path = fixture_file(names[i], SP_BF16), p[512];
        size_t n, len = 0;
        int32_t *tok = tu_fixture_tokens(names[i], &n);
        sp_model *m = open_with(path, SP_PREC_BF16);
        size_t vocab = (size_t)sp_model_vocab_size(m);
        snprintf(p, sizeof p, "tests/fixtures/interp/%s.bf16.logits", names[i]);
        float *want = tu_read_file(p, &len), *got = tu_logits(m, tok, n, 0, 0);
        cr_assert(want && got && len == n * vocab * sizeof(float), "cannot read %s", p);
        expect_close(got, want, n * vocab, LOGIT_TOL, names[i]);
        free(want);
        free(got);
        free(tok);
        sp_model_free(m);
        remove(path);
        free(path);
    }
}

Test(interp_bf16, threads_and_decode) {
    need_bf16();
    char *path = fixture_file("smoke-llama", SP_F32);
    size_t n;
    int32_t *tok = tu_fixture_tokens("smoke-llama", &n);
    sp_model *m = open_with(path, SP_PREC_BF16);
    size_t vocab = (size_t)sp_model_vocab_size(m);
    float *one = tu_logits(m, tok, n, 0, 1), *two = tu_logits(m, tok, n, 0, 2);
    float *decode = tu_logits(m, tok, n, 1, 2);
    cr_assert(one && two && decode);
    cr_assert(memcmp(one, two, n * vocab * sizeof(float)) == 0, "1 and 2 threads differ");
    expect_close(decode, two, n * vocab, 1e-4, "token-by-token decode against prefill");
    free(one);
    free(two);
    free(decode);
    free(tok);
    sp_model_free(m);
    remove(path);
    free(path);
}

Test(interp_bf16, fp32_stays_the_default_and_tf32_is_refused) {
    char *path = fixture_file("smoke-llama", SP_F32);
    size_t n;
    int32_t *tok = tu_fixture_tokens("smoke-llama", &n);
    sp_model *before = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_model_open(path, &before, &err), 0, "%s", err.msg);
    size_t vocab = (size_t)sp_model_vocab_size(before);
    float *a = tu_logits(before, tok, n, 0, 0);
    sp_model *b16 = sp_gemm_bf16_available() ? open_with(path, SP_PREC_BF16) : NULL;
    sp_model *after = NULL;
    cr_assert_eq(sp_model_open(path, &after, &err), 0, "%s", err.msg);
    float *b = tu_logits(after, tok, n, 0, 0);
    cr_assert(a && b && memcmp(a, b, n * vocab * sizeof(float)) == 0, "fp32 changed after a bf16 open");
    sp_model_options o = {.device = "cpu", .precision = SP_PREC_TF32};
    sp_model *t = NULL;
    cr_assert_eq(sp_model_open_opts(path, &o, &t, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "--precision tf32: the cpu backend computes in fp32"), "%s", err.msg);
    free(a);
    free(b);
    free(tok);
    sp_model_free(before);
    sp_model_free(after);
    sp_model_free(b16);
    remove(path);
    free(path);
}

Test(interp_bf16, refused_in_one_line_without_avx512_bf16) {
    /* set before the first bf16 call of this test's process */
    setenv("SPARSA_GEMM_ISA", "scalar", 1);
    cr_assert_eq(sp_gemm_bf16_available(), 0);
    char *path = fixture_file("smoke-llama", SP_F32);
    sp_model_options o = {.device = "cpu", .precision = SP_PREC_BF16};
    sp_model *m = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_model_open_opts(path, &o, &m, &err), SP_ERR_INPUT);
    cr_assert_null(m);
    cr_assert_str_eq(err.msg, "--precision bf16: this CPU has no AVX512_BF16, which the cpu backend's "
                              "bf16 products need (use fp32, or --device cuda)");
    remove(path);
    free(path);
}
