/* test_interp_cli.c — `sparsa logits`: the --out file format, the summary, and every bad input
 * answered with exit 2 and one stderr line. */
#include <criterion/criterion.h>

#include "tu_interp.h"

static char *model_path;

static void setup(void) {
    model_path = tu_tmp_path("cli");
    cr_assert_eq(tu_write_fixture_model("smoke-llama", SP_F32, model_path), 0);
}

static void teardown(void) {
    remove(model_path);
    free(model_path);
}

TestSuite(interp_cli, .init = setup, .fini = teardown);

static void expect_usage_error(const char *fmt_args, const char *what) {
    char args[1024], *err = NULL, *out = NULL;
    snprintf(args, sizeof args, fmt_args, model_path);
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 2, "%s: exit %d, stderr %s", args, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "%s: stderr %s", args, err);
    cr_assert(strstr(err, what), "%s: stderr lacks '%s': %s", args, what, err);
    cr_assert_eq(out[0], 0, "stdout not empty: %s", out);
    free(err);
    free(out);
}

Test(interp_cli, out_file_matches_reference) {
    size_t n;
    int32_t *tok = tu_read_tokens("tests/fixtures/interp/smoke-llama.tokens", &n);
    char *ids = tu_read_text("tests/fixtures/interp/smoke-llama.tokens");
    ids[strcspn(ids, "\n")] = 0;
    char out_path[300], args[1200], *err = NULL;
    snprintf(out_path, sizeof out_path, "%s.logits", model_path);
    snprintf(args, sizeof args, "logits %s --tokens %s --out %s --threads 1", model_path, ids, out_path);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    size_t len = 0, wlen = 0;
    float *got = tu_read_file(out_path, &len);
    float *want = tu_read_file("tests/fixtures/interp/smoke-llama.logits", &wlen);
    cr_assert_eq(len, wlen, "%zu bytes, want %zu", len, wlen);
    cr_assert_eq(len, n * 40 * sizeof(float));
    for (size_t i = 0; i < len / 4; i++)
        cr_assert(fabs((double)got[i] - want[i]) <= 1e-4 * fmax(1.0, fabs(want[i])));
    remove(out_path);
    free(got);
    free(want);
    free(ids);
    free(tok);
    free(err);
}

/* The summary as it must read for logits rows[n][40]: per position its five largest logits,
 * largest first, the lowest id first among equals. */
static void expected_summary(const float *rows, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t r = 0; r < n; r++) {
        const float *row = rows + r * 40;
        int used[40] = {0};
        k += (size_t)snprintf(buf + k, cap - k, "%zu:", r);
        for (int t = 0; t < 5; t++) {
            int best = -1;
            for (int j = 0; j < 40; j++)
                if (!used[j] && (best < 0 || row[j] > row[best])) best = j;
            used[best] = 1;
            k += (size_t)snprintf(buf + k, cap - k, " %d=%.4f", best, row[best]);
        }
        k += (size_t)snprintf(buf + k, cap - k, "\n");
    }
}

Test(interp_cli, summary_has_one_line_per_position) {
    char args[600], *out = NULL, raw[300];
    snprintf(raw, sizeof raw, "%s.summary.logits", model_path);
    snprintf(args, sizeof args, "logits %s --tokens 5,17,3 --out %s", model_path, raw);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 0);
    size_t len = 0;
    float *rows = tu_read_file(raw, &len);
    remove(raw);
    cr_assert(rows && len == 3 * 40 * sizeof(float), "%zu bytes", len);
    char want[1024];
    expected_summary(rows, 3, want, sizeof want);
    free(rows);
    snprintf(args, sizeof args, "logits %s --tokens 5,17,3", model_path);
    cr_assert_eq(tu_run_sparsa(args, &out, NULL), 0);
    cr_assert_eq(tu_line_count(out), 3, "%s", out);
    cr_assert_str_eq(out, want);
    free(out);
}

Test(interp_cli, id_out_of_range) { expect_usage_error("logits %s --tokens 1,40", "token id 40"); }
Test(interp_cli, negative_id) { expect_usage_error("logits %s --tokens -1", "token id -1"); }
Test(interp_cli, empty_tokens) { expect_usage_error("logits %s --tokens ''", "empty"); }
Test(interp_cli, malformed_tokens) { expect_usage_error("logits %s --tokens 1,,2", "bad id"); }
Test(interp_cli, trailing_garbage) { expect_usage_error("logits %s --tokens 1,2x", "bad id"); }
Test(interp_cli, missing_tokens) { expect_usage_error("logits %s", "missing --tokens"); }
Test(interp_cli, missing_file) { expect_usage_error("logits --tokens 1 %.0s", "missing model FILE"); }
Test(interp_cli, unknown_option) { expect_usage_error("logits %s --tokens 1 --frob", "unknown option"); }
Test(interp_cli, bad_threads) { expect_usage_error("logits %s --tokens 1 --threads 0", "--threads"); }
Test(interp_cli, unreadable_file) { expect_usage_error("logits %s.nonexistent --tokens 1", ""); }

Test(interp_cli, longer_than_context) {
    /* smoke-llama has context_length 64 */
    char ids[400] = "";
    for (int i = 0; i < 65; i++) strcat(ids, i ? ",1" : "1");
    char fmt[600];
    snprintf(fmt, sizeof fmt, "logits %%s --tokens %s", ids);
    expect_usage_error(fmt, "exceed the model's context length 64");
}

Test(interp_cli, failed_run_leaves_no_out_file) {
    char out_path[300], args[900];
    snprintf(out_path, sizeof out_path, "%s.never", model_path);
    snprintf(args, sizeof args, "logits %s --tokens 99 --out %s", model_path, out_path);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 2);
    cr_assert_neq(access(out_path, F_OK), 0, "output written on failure");
    snprintf(args, sizeof args, "logits %s --tokens 1 --out /nonexistent-dir/x.bin", model_path);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 2);
}
