/* test_interp_golden.c — the interpreter against PyTorch numbers (tests/reference/
 * interp_smoke.py, fixtures in tests/fixtures/interp/): every position's logits within
 * 1e-4·max(1, |x|), with f32, bf16 and f16 stored weights (the reference ran on the same
 * rounded weights). Also prefill = token-by-token decode (1e-5) and 1 thread = 2 threads
 * bit for bit. */
#include <criterion/criterion.h>

#include "tu_interp.h"

static float *load_expected(const char *name, const char *suffix, size_t n, size_t vocab) {
    char p[512];
    snprintf(p, sizeof p, "tests/fixtures/interp/%s%s.logits", name, suffix);
    size_t len = 0;
    float *v = tu_read_file(p, &len);
    cr_assert(v, "cannot read %s", p);
    cr_assert_eq(len, n * vocab * sizeof(float), "%s has %zu bytes", p, len);
    return v;
}

static sp_model *open_fixture(const char *name, sp_dtype dt, char **path) {
    *path = tu_tmp_path(name);
    cr_assert_eq(tu_write_fixture_model(name, dt, *path), 0, "cannot build %s", name);
    sp_model *m = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_model_open(*path, &m, &err), 0, "%s: %s", name, err.msg);
    return m;
}

static void check_golden(const char *name, sp_dtype dt, const char *suffix) {
    char *path;
    sp_model *m = open_fixture(name, dt, &path);
    size_t n, vocab = (size_t)sp_model_vocab_size(m);
    int32_t *tok = tu_fixture_tokens(name, &n);
    float *want = load_expected(name, suffix, n, vocab);
    float *got = tu_logits(m, tok, n, 0, 0);
    cr_assert(got);
    double worst = 0;
    for (size_t i = 0; i < n * vocab; i++) {
        double tol = 1e-4 * fmax(1.0, fabs(want[i]));
        double d = fabs((double)got[i] - want[i]);
        if (d / tol > worst) worst = d / tol;
        cr_assert(d <= tol, "%s%s: position %zu id %zu: got %.7g want %.7g", name, suffix,
                  i / vocab, i % vocab, got[i], want[i]);
    }
    cr_log_info("%s%s: worst |diff| / tolerance = %.3g", name, suffix, worst);
    free(got);
    free(want);
    free(tok);
    sp_model_free(m);
    remove(path);
    free(path);
}

Test(interp_golden, llama_f32) { check_golden("smoke-llama", SP_F32, ""); }
Test(interp_golden, llama_bf16) { check_golden("smoke-llama", SP_BF16, ".bf16"); }
Test(interp_golden, llama_f16) { check_golden("smoke-llama", SP_F16, ".f16"); }
Test(interp_golden, gemma_f32) { check_golden("smoke-gemma", SP_F32, ""); }
Test(interp_golden, gemma_bf16) { check_golden("smoke-gemma", SP_BF16, ".bf16"); }
Test(interp_golden, gemma_f16) { check_golden("smoke-gemma", SP_F16, ".f16"); }

/* A wrong expectation must fail: the comparison is not vacuous. */
Test(interp_golden, perturbed_weights_are_detected) {
    char *path;
    sp_model *m = open_fixture("smoke-llama", SP_BF16, &path);
    size_t n, vocab = (size_t)sp_model_vocab_size(m);
    int32_t *tok = tu_fixture_tokens("smoke-llama", &n);
    float *want = load_expected("smoke-llama", "", n, vocab);  /* f32 reference vs bf16 model */
    float *got = tu_logits(m, tok, n, 0, 0);
    size_t bad = 0;
    for (size_t i = 0; i < n * vocab; i++)
        bad += fabs((double)got[i] - want[i]) > 1e-4 * fmax(1.0, fabs(want[i]));
    cr_assert(bad > 0, "bf16 weights matched the f32 reference: the check cannot fail");
    free(got);
    free(want);
    free(tok);
    sp_model_free(m);
    remove(path);
    free(path);
}

static void check_decode(const char *name, size_t chunk) {
    char *path;
    sp_model *m = open_fixture(name, SP_F32, &path);
    size_t n, vocab = (size_t)sp_model_vocab_size(m);
    int32_t *tok = tu_fixture_tokens(name, &n);
    float *full = tu_logits(m, tok, n, 0, 0);
    float *inc = tu_logits(m, tok, n, chunk, 0);
    cr_assert(full && inc);
    for (size_t i = 0; i < n * vocab; i++)
        cr_assert(fabs((double)full[i] - inc[i]) <= 1e-5, "%s chunk %zu: row %zu: %.9g vs %.9g",
                  name, chunk, i / vocab, full[i], inc[i]);
    free(full);
    free(inc);
    free(tok);
    sp_model_free(m);
    remove(path);
    free(path);
}

Test(interp_decode, llama_token_by_token) { check_decode("smoke-llama", 1); }
Test(interp_decode, gemma_token_by_token) { check_decode("smoke-gemma", 1); }
Test(interp_decode, gemma_chunks_of_5) { check_decode("smoke-gemma", 5); }

static void check_threads(const char *name) {
    char *path;
    sp_model *m = open_fixture(name, SP_BF16, &path);
    size_t n, vocab = (size_t)sp_model_vocab_size(m);
    int32_t *tok = tu_fixture_tokens(name, &n);
    float *one = tu_logits(m, tok, n, 0, 1);
    float *two = tu_logits(m, tok, n, 0, 2);
    float *three = tu_logits(m, tok, n, 0, 3);
    cr_assert(one && two && three);
    cr_assert(!memcmp(one, two, n * vocab * sizeof(float)), "%s: 1 and 2 threads differ", name);
    cr_assert(!memcmp(one, three, n * vocab * sizeof(float)), "%s: 1 and 3 threads differ", name);
    free(one);
    free(two);
    free(three);
    free(tok);
    sp_model_free(m);
    remove(path);
    free(path);
}

Test(interp_threads, llama_bit_identical) { check_threads("smoke-llama"); }
Test(interp_threads, gemma_bit_identical) { check_threads("smoke-gemma"); }

/* logits_from skips rows; the rows delivered equal those of a full run. */
Test(interp_session, logits_from_and_positions) {
    char *path;
    sp_model *m = open_fixture("smoke-llama", SP_F32, &path);
    size_t n, vocab = (size_t)sp_model_vocab_size(m);
    int32_t *tok = tu_fixture_tokens("smoke-llama", &n);
    float *full = tu_logits(m, tok, n, 0, 0);
    sp_session *s = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_session_create(m, n, 0, &s, &err), 0);
    float *part = calloc(n * vocab, sizeof *part);
    tu_collect c = {part, vocab, 0, 0};
    cr_assert_eq(sp_session_forward(s, tok, n, n - 3, tu_collect_sink, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(c.rows_seen, 3);
    cr_assert_eq(sp_session_position(s), n);
    /* the LM head sees 3 rows instead of 24: the gemm may take another path, so ~1e-6 */
    for (size_t i = (n - 3) * vocab; i < n * vocab; i++)
        cr_assert(fabs((double)part[i] - full[i]) <= 1e-5, "row %zu: %g vs %g", i / vocab, part[i], full[i]);
    /* the cache is full: one more token is an input error */
    cr_assert_eq(sp_session_forward(s, tok, 1, 0, NULL, NULL, &err), SP_ERR_INPUT);
    sp_session_reset(s);
    cr_assert_eq(sp_session_position(s), 0);
    int32_t bad = sp_model_vocab_size(m);
    cr_assert_eq(sp_session_forward(s, &bad, 1, 0, NULL, NULL, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "token id"), "%s", err.msg);
    sp_session_free(s);
    free(part);
    free(full);
    free(tok);
    sp_model_free(m);
    remove(path);
    free(path);
}
