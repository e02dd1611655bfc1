/* test_tokenizer_cli.c — `sparsa tokenize`: ids equal Python sentencepiece's on 1 MiB of KJV
 * (fixtures from tests/reference/tokenizer_fixtures.py), through a .model file and through a
 * model file's embedded tokenizer; exact --decode round trips; every bad input exits 2 with
 * one line. */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "tu_cli.h"
#include "tu_eval.h"

#define FIX "tests/fixtures/tokenizer/"
#define PPL_MODEL "tests/fixtures/perplexity/ppl-llama.sparsa"

static void expect_python_ids(const char *model) {
    size_t len = 0, n_ref = 0, n = 0;
    char *text = tu_read_zst(FIX "kjv_1mb.txt.zst", &len);
    int32_t *ref = tu_read_ids16(FIX "kjv_1mb.kjv_bpe.ids.zst", &n_ref);
    cr_assert(text && ref);
    char *path = tu_temp_file(text, len, ".txt");
    char args[512], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "tokenize %s - < %s", model, path);
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s", err);
    cr_assert_eq(tu_line_count(out), 1, "ids on one line");
    int32_t *ids = tu_parse_ids(out, &n);
    cr_assert_eq(n, n_ref, "%zu ids, Python gave %zu", n, n_ref);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ids[i], ref[i], "id %zu: %d, Python gave %d", i, ids[i], ref[i]);
    /* and back: --decode reproduces the 1 MiB exactly */
    char *idfile = tu_temp_file(out, strlen(out), ".ids");
    free(out);
    free(err);
    snprintf(args, sizeof args, "tokenize %s --decode - < %s", model, idfile);
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s", err);
    cr_assert_eq(strlen(out), len);
    cr_assert(memcmp(out, text, len) == 0);
    remove(path);
    remove(idfile);
    free(path);
    free(idfile);
    free(out);
    free(err);
    free(ids);
    free(ref);
    free(text);
}

Test(tokenize_cli, spm_model_ids_equal_python_on_1mb, .timeout = 900) {
    expect_python_ids(FIX "kjv_bpe.model");
}

Test(tokenize_cli, embedded_tokenizer_ids_equal_python_on_1mb, .timeout = 900) {
    expect_python_ids(PPL_MODEL);
}

Test(tokenize_cli, text_argument_and_comma_ids) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("tokenize " FIX "kjv_bpe.model 'In the beginning'", &out, NULL), 0);
    size_t n = 0;
    int32_t *ids = tu_parse_ids(out, &n);
    cr_assert_gt(n, 0);
    char args[512];
    int k = snprintf(args, sizeof args, "tokenize " FIX "kjv_bpe.model --decode '");
    for (size_t i = 0; i < n; i++) k += snprintf(args + k, sizeof args - k, i ? ",%d" : "%d", ids[i]);
    snprintf(args + k, sizeof args - k, "'");
    free(out);
    cr_assert_eq(tu_run_sparsa(args, &out, NULL), 0);
    cr_assert_str_eq(out, "In the beginning");
    free(out);
    free(ids);
}

Test(tokenize_cli, byte_fallback_round_trip) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("tokenize " FIX "kjv_bpe.model - < " FIX "roundtrip.txt", &out, NULL), 0);
    char *ids = tu_temp_file(out, strlen(out), ".ids");
    free(out);
    char args[256];
    snprintf(args, sizeof args, "tokenize " FIX "kjv_bpe.model --decode - < %s", ids);
    cr_assert_eq(tu_run_sparsa(args, &out, NULL), 0);
    size_t len = 0;
    char *want = tu_read_file(FIX "roundtrip.txt", &len);
    cr_assert_eq(strlen(out), len);
    cr_assert(memcmp(out, want, len) == 0);
    remove(ids);
    free(ids);
    free(want);
    free(out);
}

Test(tokenize_cli, empty_text_prints_an_empty_line) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("tokenize " FIX "kjv_bpe.model ''", &out, NULL), 0);
    cr_assert_str_eq(out, "\n");
    free(out);
}

Test(tokenize_cli, bad_inputs_exit_2_with_one_line) {
    tu_expect_bad("tokenize", "missing");
    tu_expect_bad("tokenize " FIX "kjv_bpe.model", "missing TEXT");
    tu_expect_bad("tokenize /nonexistent.model hi", "/nonexistent.model");
    tu_expect_bad("tokenize " FIX "roundtrip.txt hi", FIX "roundtrip.txt");
    tu_expect_bad("tokenize tests/fixtures/models/hf-llama-f32.sparsa hi", "no tokenizer");
    tu_expect_bad("tokenize " FIX "kjv_bpe.model --decode '5 x7'", "x7");
    tu_expect_bad("tokenize " FIX "kjv_bpe.model --decode '5 2000'", "2000");
    tu_expect_bad("tokenize " FIX "kjv_bpe.model --decode -- '-3'", "not a token id: '-3'");
    tu_expect_bad("tokenize " FIX "kjv_bpe.model --frob hi", "--frob");
    tu_expect_bad("tokenize " FIX "kjv_bpe.model a b", "unexpected");
}

Test(tokenize_cli, a_fifo_as_the_model_exits_2_at_once, .timeout = 60) {
    char dir[] = "/tmp/sparsa_tokcli_XXXXXX", args[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(args, sizeof args, "tokenize %s/m.fifo hi", dir);
    char fifo[64];
    snprintf(fifo, sizeof fifo, "%s/m.fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    tu_expect_bad(args, "FIFO");
    snprintf(args, sizeof args, "tokenize %s hi", dir);
    tu_expect_bad(args, "directory");
    tu_expect_bad("tokenize /dev/null hi", "character device");
    unlink(fifo);
    rmdir(dir);
}

Test(tokenize_cli, invalid_utf8_on_stdin) {
    char *path = tu_temp_file("abc\xc3(", 5, ".txt");
    char args[256];
    snprintf(args, sizeof args, "tokenize " FIX "kjv_bpe.model - < %s", path);
    tu_expect_bad(args, "invalid UTF-8 at byte 3");
    remove(path);
    free(path);
}

Test(tokenize_cli, help) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("tokenize --help", &out, NULL), 0);
    cr_assert(strstr(out, "--decode"));
    free(out);
}
