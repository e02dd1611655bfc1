/* test_interp_fixtures.c — the interpreter on the reference fixtures (tests/fixtures/models/,
 * made by tests/reference/make_fixtures.py from the PyTorch reference): for every fixture,
 * every position's logits within 1e-4·max(1, |x|) of the reference; on the four required
 * architectures also token-by-token decode vs prefill (1e-5) and 1 vs 2 threads bit for bit. */
#include <criterion/criterion.h>
#include <dirent.h>

#include "tu_interp.h"

#define FIX_DIR "tests/fixtures/models/"

typedef struct {
    sp_model *m;
    int32_t *tok;
    size_t n, vocab;
    float *want;
} fixture;

static int load_fixture(const char *name, fixture *f) {
    char p[512];
    sp_error err = {0};
    memset(f, 0, sizeof *f);
    snprintf(p, sizeof p, FIX_DIR "%s.sparsa", name);
    if (sp_model_open(p, &f->m, &err)) {
        cr_log_error("%s: %s", name, err.msg);
        return -1;
    }
    snprintf(p, sizeof p, FIX_DIR "%s.tokens", name);
    f->tok = tu_read_tokens(p, &f->n);
    f->vocab = (size_t)sp_model_vocab_size(f->m);
    snprintf(p, sizeof p, FIX_DIR "%s.logits", name);
    size_t len = 0;
    f->want = tu_read_file(p, &len);
    if (!f->tok || !f->want || len != f->n * f->vocab * sizeof(float)) {
        cr_log_error("%s: tokens/logits missing or of the wrong size", name);
        return -1;
    }
    return 0;
}

static void free_fixture(fixture *f) {
    sp_model_free(f->m);
    free(f->tok);
    free(f->want);
}

/* Returns the number of logits outside the tolerance (0 = pass); logs the worst ratio. */
static size_t compare(const char *name, const fixture *f, const float *got) {
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < f->n * f->vocab; i++) {
        double tol = 1e-4 * fmax(1.0, fabs(f->want[i]));
        double d = fabs((double)got[i] - f->want[i]);
        if (!(d <= tol)) {
            if (!bad)
                cr_log_error("%s: position %zu id %zu: got %.7g, reference %.7g", name,
                             i / f->vocab, i % f->vocab, got[i], f->want[i]);
            bad++;
        }
        if (d / tol > worst) worst = d / tol;
    }
    cr_log_info("%s: %zu positions, worst |diff|/tolerance %.3g", name, f->n, worst);
    return bad;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

Test(interp_fixtures, every_fixture_matches_reference, .timeout = 120) {
    DIR *d = opendir(FIX_DIR);
    cr_assert(d, "no " FIX_DIR);
    struct dirent *e;
    size_t count = 0, failed = 0;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".sparsa")) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(e->d_name) - 7), e->d_name);
        fixture f;
        if (load_fixture(name, &f)) {
            failed++;
            free_fixture(&f);
            continue;
        }
        float *got = tu_logits(f.m, f.tok, f.n, 0, 0);
        if (!got || compare(name, &f, got)) failed++;
        free(got);
        free_fixture(&f);
        count++;
    }
    closedir(d);
    cr_assert_geq(count, 15, "only %zu fixtures found", count);
    cr_assert_eq(failed, 0, "%zu of %zu fixtures differ from the reference", failed, count);
}

/* The architectures the interpreter must express, in all three stored dtypes. */
static const char *const REQUIRED[] = {"hf-llama", "hf-gemma2", "sparse-gemma2-softmax-rope",
                                       "torchtitan-llama"};

/* Parity of these is checked by every_fixture_matches_reference; here: they all exist. */
Test(interp_fixtures, required_architectures_present) {
    static const char *const dts[] = {"f32", "f16", "bf16"};
    for (size_t a = 0; a < 4; a++)
        for (size_t t = 0; t < 3; t++) {
            char name[128];
            snprintf(name, sizeof name, "%s-%s", REQUIRED[a], dts[t]);
            fixture f;
            cr_assert_eq(load_fixture(name, &f), 0, "fixture %s", name);
            cr_assert_eq(f.n, 64, "%s has %zu tokens", name, f.n);
            free_fixture(&f);
        }
}

static void decode_and_threads(const char *name) {
    fixture f;
    cr_assert_eq(load_fixture(name, &f), 0);
    float *full = tu_logits(f.m, f.tok, f.n, 0, 1);
    float *two = tu_logits(f.m, f.tok, f.n, 0, 2);
    float *inc = tu_logits(f.m, f.tok, f.n, 1, 1);
    cr_assert(full && two && inc);
    cr_assert(!memcmp(full, two, f.n * f.vocab * sizeof(float)), "%s: 1 and 2 threads differ", name);
    double worst = 0;
    for (size_t i = 0; i < f.n * f.vocab; i++) {
        double dd = fabs((double)full[i] - inc[i]);
        if (dd > worst) worst = dd;
        cr_assert(dd <= 1e-5, "%s: row %zu: prefill %.9g decode %.9g", name, i / f.vocab, full[i], inc[i]);
    }
    cr_log_info("%s: prefill vs decode max |diff| %.3g", name, worst);
    free(full);
    free(two);
    free(inc);
    free_fixture(&f);
}

Test(interp_fixtures, decode_threads_hf_llama) { decode_and_threads("hf-llama-f32"); }
Test(interp_fixtures, decode_threads_hf_gemma2) { decode_and_threads("hf-gemma2-bf16"); }
Test(interp_fixtures, decode_threads_sparse_gemma2) { decode_and_threads("sparse-gemma2-softmax-rope-f16"); }
Test(interp_fixtures, decode_threads_torchtitan) { decode_and_threads("torchtitan-llama-f32"); }
Test(interp_fixtures, decode_threads_asentmax) { decode_and_threads("sg2-asentmax-nape-bf16"); }
Test(interp_fixtures, decode_threads_entmax13) { decode_and_threads("sg2-entmax13-rope-bf16"); }
Test(interp_fixtures, decode_threads_stickbreaking) { decode_and_threads("sg2-stickbreaking-bf16"); }

/* Attention statistics against the reference's fraction of exactly-zero weights among
 * visible keys (MANIFEST.json zero_fraction), summed over layers and heads. */
static void check_stats(const char *name, double want_zero_fraction) {
    fixture f;
    cr_assert_eq(load_fixture(name, &f), 0);
    sp_session *s = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_session_create(f.m, f.n, 0, &s, &err), 0);
    sp_session_enable_stats(s, 1);
    cr_assert_eq(sp_session_forward(s, f.tok, f.n, f.n, NULL, NULL, &err), 0, "%s", err.msg);
    uint64_t support = 0, visible = 0;
    for (size_t l = 0; l < sp_model_layer_count(f.m); l++) {
        const sp_head_stats *hs = sp_session_stats(s, l);
        cr_assert(hs);
        for (int h = 0; h < sp_model_attention_heads(f.m, l); h++) {
            cr_assert_eq(hs[h].rows, f.n, "layer %zu head %d: %llu rows", l, h,
                         (unsigned long long)hs[h].rows);
            cr_assert_leq(hs[h].support, hs[h].visible);
            support += hs[h].support;
            visible += hs[h].visible;
        }
    }
    double zf = 1.0 - (double)support / (double)visible;
    cr_log_info("%s: zero fraction %.4f (reference %.4f)", name, zf, want_zero_fraction);
    cr_assert(fabs(zf - want_zero_fraction) <= 0.002, "%s: zero fraction %.4f, reference %.4f",
              name, zf, want_zero_fraction);
    sp_session_reset_stats(s);
    const sp_head_stats *hs = sp_session_stats(s, 0);
    cr_assert_eq(hs[0].rows, 0);
    cr_assert_eq(hs[0].visible, 0);
    sp_session_free(s);
    free_fixture(&f);
}

Test(interp_fixtures, stats_entmax15) { check_stats("sg2-entmax15-nape-bf16", 0.9255); }
Test(interp_fixtures, stats_sparsemax) { check_stats("sg2-sparsemax-nope-bf16", 0.9361); }
Test(interp_fixtures, stats_softmax) { check_stats("hf-llama-f32", 0.0); }

/* Windows longer than SP_ROW_CHUNK (MLP hidden chunks, query-scale chunks) and than several
 * logit blocks: one 300-token prefill against calls of 100 tokens (each a single chunk). */
Test(interp_fixtures, long_window_chunking_matches_short_calls, .timeout = 120) {
    fixture f;
    cr_assert_eq(load_fixture("sg2-asentmax-nape-bf16", &f), 0);
    size_t n = 300;
    int32_t *tok = malloc(n * sizeof *tok);
    for (size_t i = 0; i < n; i++) tok[i] = f.tok[(i * 7) % f.n];
    float *full = tu_logits(f.m, tok, n, 0, 0);
    float *parts = tu_logits(f.m, tok, n, 100, 0);
    cr_assert(full && parts);
    double worst = 0;
    for (size_t i = 0; i < n * f.vocab; i++) {
        double dd = fabs((double)full[i] - parts[i]);
        if (dd > worst) worst = dd;
        cr_assert(dd <= 1e-5, "row %zu: %.9g vs %.9g", i / f.vocab, full[i], parts[i]);
    }
    cr_log_info("300-token prefill vs 3 calls of 100: max |diff| %.3g", worst);
    free(full);
    free(parts);
    free(tok);
    free_fixture(&f);
}
