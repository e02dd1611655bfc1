/* test_examples_convert.c — the path from the example models' training output to a model
 * file keeps working.
 *
 * tests/fixtures/examples/asentmax_slice/ is a slice of the trained ASEntmax+NAPE checkpoint
 * (examples/train/make_test_slice.py: layer 0 and 512 vocabulary rows of the Lightning
 * checkpoint, bf16, with the training config.json) and the PyTorch reference logits of those
 * weights on 96 fixed tokens. sparsa converts it exactly as a user would, and its logits must
 * match the reference. The bundled example models must open and verify. */
#include <criterion/criterion.h>
#include <math.h>

#include "tu.h"

#define SLICE "tests/fixtures/examples/asentmax_slice"
#define VOCAB 512

static char out_path[64];

static void make_out_path(void) {
    snprintf(out_path, sizeof out_path, "/tmp/sparsa_examples_%ld.sparsa", (long)getpid());
}

static void remove_out(void) { remove(out_path); }

TestSuite(examples_convert, .init = make_out_path, .fini = remove_out);

static char *trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = 0;
    return s;
}

Test(examples_convert, lightning_slice_converts_and_matches_reference) {
    char args[512], *err = NULL;
    snprintf(args, sizeof args, SLICE "/model.ckpt -o %s --force", out_path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "convert %s", args);
    int rc = tu_run_sparsa(cmd, NULL, &err);
    cr_assert_eq(rc, 0, "convert failed (%d): %s", rc, err);
    free(err);

    char *tokens = tu_read_file(SLICE "/tokens.txt", NULL);
    cr_assert_not_null(tokens);
    trim(tokens);
    int n_tokens = 1;
    for (const char *c = tokens; *c; c++) n_tokens += *c == ',';
    char logits_path[80];
    snprintf(logits_path, sizeof logits_path, "%s.logits", out_path);
    size_t cap = strlen(tokens) + 256;
    char *lcmd = malloc(cap);
    snprintf(lcmd, cap, "logits %s --tokens %s --out %s", out_path, tokens, logits_path);
    err = NULL;
    rc = tu_run_sparsa(lcmd, NULL, &err);
    cr_assert_eq(rc, 0, "logits failed (%d): %s", rc, err);
    free(err);
    free(lcmd);
    free(tokens);

    size_t n_got = 0, n_ref = 0;
    float *got = tu_read_file(logits_path, &n_got);
    float *ref = tu_read_file(SLICE "/logits.f32", &n_ref);
    remove(logits_path);
    cr_assert_not_null(got);
    cr_assert_not_null(ref);
    cr_assert_eq(n_ref, (size_t)n_tokens * VOCAB * sizeof(float), "fixture size");
    cr_assert_eq(n_got, n_ref, "sparsa wrote %zu bytes of logits, expected %zu", n_got, n_ref);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n_ref / sizeof(float); i++) {
        double d = fabs((double)got[i] - ref[i]) / fmax(1.0, fabs((double)ref[i]));
        if (!(d <= worst)) worst = d, at = i; /* a NaN becomes the worst and fails below */
    }
    cr_expect(worst <= 1e-4, "logit %zu (token %zu): sparsa %g, reference %g", at, at / VOCAB,
              got[at], ref[at]);
    free(got);
    free(ref);
}

Test(examples_convert, slice_keeps_its_provenance) {
    char args[256], *out = NULL;
    snprintf(args, sizeof args, "convert " SLICE "/model.ckpt -o %s --force", out_path);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "inspect %s --json", out_path);
    cr_assert_eq(tu_run_sparsa(args, &out, NULL), 0);
    cr_expect(strstr(out, "asentmax-gemma2") != NULL, "architecture missing");
    cr_expect(strstr(out, "lightning") != NULL, "source kind missing");
    /* the training config travels in source.config: variant and training length */
    cr_expect(strstr(out, "asentmax_nape") != NULL, "training provenance missing");
    free(out);
}

Test(examples_convert, slice_without_weights_is_refused) {
    /* the same config with a checkpoint that is not one: one clear line, exit 2 */
    char *err = NULL;
    int rc = tu_run_sparsa("convert " SLICE "/tokens.txt --config " SLICE "/config.json -o "
                           "/tmp/sparsa_examples_never.sparsa", NULL, &err);
    cr_expect_eq(rc, 2, "exit %d", rc);
    cr_expect(err && tu_line_count(err) == 1 && strstr(err, "tokens.txt"), "stderr: %s", err);
    cr_expect(access("/tmp/sparsa_examples_never.sparsa", F_OK) != 0, "output written");
    free(err);
}

static const char *bundled[] = {"softmax_rope", "ssmax_nape", "entmax15_nape", "asentmax_nape"};

Test(examples_convert, bundled_models_verify) {
    for (size_t i = 0; i < sizeof bundled / sizeof bundled[0]; i++) {
        char args[256], *out = NULL, *err = NULL;
        snprintf(args, sizeof args, "inspect examples/models/%s.sparsa --verify", bundled[i]);
        int rc = tu_run_sparsa(args, &out, &err);
        cr_expect_eq(rc, 0, "%s: exit %d: %s", bundled[i], rc, err);
        cr_expect(out && strstr(out, "SentencePiece") != NULL, "%s: no tokenizer", bundled[i]);
        free(out);
        free(err);
    }
}
