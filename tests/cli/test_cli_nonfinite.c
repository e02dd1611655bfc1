/* test_cli_nonfinite.c — a model whose weights make NaN logits (written here: a valid file with
 * NaN over part of one tensor, checksums recomputed): perplexity, generate, logits and
 * eval-task stop with exit 1 and one line naming where (file, context, window, position),
 * print no result (never a nan, a `-` or a null) and leave no output file behind. */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "tu_cli.h"
#include "tu_eval.h"
#include "tu_poison.h"

#define DIR "tests/fixtures/perplexity/"
#define LLAMA DIR "ppl-llama.sparsa"
#define PSALMS DIR "psalms.txt"
#define WIDTH 48 /* hidden size of LLAMA: one embedding row */

TestSuite(cli_nonfinite, .init = tu_scratch_make, .fini = tu_scratch_remove);

/* LLAMA with every weight of its final norm NaN: every logit of every position is NaN. */
static const char *nan_everywhere(void) {
    char *path = tu_scratch_path("nan-norm.sparsa");
    cr_assert_eq(tu_poison_model(LLAMA, path, "model.norm.weight", 0, WIDTH), 0);
    return path;
}

/* `sparsa ARGS` fails while running: exit 1, one line holding every needle, empty stdout. */
static void expect_nonfinite(const char *args, const char *const *needles, size_t n) {
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 1, "'%s' exited %d: %s", args, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "'%s': %s", args, err);
    for (size_t i = 0; i < n; i++)
        cr_assert(strstr(err, needles[i]), "'%s': stderr lacks '%s': %s", args, needles[i], err);
    cr_assert_str_eq(out, "", "'%s' printed a result: %s", args, out);
    free(out);
    free(err);
}

Test(cli_nonfinite, the_poisoned_model_opens_and_verifies) {
    /* so what the other tests see is the run, not a damaged file */
    char args[600];
    snprintf(args, sizeof args, "inspect %s --verify", nan_everywhere());
    char *out = NULL, *err = NULL;
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "OK"), "%s", out);
    free(out);
    free(err);
}

Test(cli_nonfinite, perplexity_stops_at_the_first_window) {
    const char *m = nan_everywhere();
    char args[600];
    const char *needles[] = {"non-finite NLL in " PSALMS ", ctx 64, window 0, position 1"};
    snprintf(args, sizeof args, "perplexity %s " PSALMS " --ctx 64 --threads 1", m);
    expect_nonfinite(args, needles, 1);
    snprintf(args, sizeof args, "perplexity %s " PSALMS " --ctx 64 --threads 2 --json", m);
    expect_nonfinite(args, needles, 1);
    /* --score second-half scores from position L/2 + 1 */
    const char *second[] = {"ctx 64, window 0, position 33"};
    snprintf(args, sizeof args, "perplexity %s " PSALMS " --ctx 64 --score second-half", m);
    expect_nonfinite(args, second, 1);
}

/* The corpus as the model's tokenizer (shared by both fixtures) cuts it. */
static int32_t *corpus_ids(size_t *n) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("tokenize " LLAMA " - < " PSALMS, &out, NULL), 0);
    int32_t *ids = tu_parse_ids(out, n);
    free(out);
    cr_assert(*n > 64 * 4, "%zu tokens", *n);
    return ids;
}

/* Position of a token first seen inside window 2 or later, not at a window's ends. */
static size_t first_seen_inside_a_window(const int32_t *ids, size_t n) {
    for (size_t j = 2 * 64; j < n; j++) {
        size_t first = 0;
        while (ids[first] != ids[j]) first++;
        if (first == j && j % 64 >= 1 && j % 64 <= 61) return j;
    }
    cr_assert_fail("no token first seen inside a window");
    return 0;
}

/* NaN in the embedding row of a token first seen at stream position `at` (its lm_head untied,
 * so only positions that see the token compute NaN) in a copy of `model`; perplexity stops in
 * the token's window. Returns the position it names. */
static size_t nonfinite_position(const char *model, const char *tag, const int32_t *ids,
                                 size_t at) {
    char *m = tu_scratch_path(tag);
    cr_assert_eq(tu_untie_and_poison_row(model, m, "model.embed_tokens.weight", ids[at]), 0);
    char args[600], where[200];
    snprintf(where, sizeof where, "non-finite NLL in " PSALMS ", ctx 64, window %zu, position ",
             at / 64);
    const char *needles[] = {where};
    snprintf(args, sizeof args, "perplexity %s " PSALMS " --ctx 64 --threads 1", m);
    char *out = NULL, *err = NULL;
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 1, "%s", err);
    cr_assert_str_eq(out, "");
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    char *p = strstr(err, needles[0]);
    cr_assert(p, "'%s' lacks '%s'", err, where);
    size_t pos = (size_t)strtoul(p + strlen(where), NULL, 10);
    free(out);
    free(err);
    return pos;
}

Test(cli_nonfinite, perplexity_names_the_window_and_position) {
    size_t n = 0;
    int32_t *ids = corpus_ids(&n);
    size_t at = first_seen_inside_a_window(ids, n);
    /* entmax attention reads only the value rows of keys in a query's support, and a causal
     * query never has a later key there: the first non-finite NLL is the target right after
     * the poisoned token. */
    size_t pos = nonfinite_position(DIR "ppl-asentmax.sparsa", "nan-token-entmax.sparsa", ids, at);
    cr_assert_eq(pos, at % 64 + 1, "token at window position %zu, NaN named at %zu", at % 64,
                 pos);
    /* softmax attention: a key a query does not see has weight 0 and adds nothing, even its
     * NaN value row, so the same position is named */
    pos = nonfinite_position(LLAMA, "nan-token-softmax.sparsa", ids, at);
    cr_assert_eq(pos, at % 64 + 1, "token at window position %zu, NaN named at %zu", at % 64,
                 pos);
    free(ids);
}

Test(cli_nonfinite, generate_stops_before_sampling) {
    const char *m = nan_everywhere();
    char args[600];
    const char *needles[] = {m, "non-finite logit at position 2"};
    snprintf(args, sizeof args, "generate %s --tokens 5,6,7 -n 4 --threads 1", m);
    expect_nonfinite(args, needles, 2);
    snprintf(args, sizeof args, "generate %s --prompt 'In the beginning' -n 4 --temp 0.8", m);
    expect_nonfinite(args, needles, 1);
    snprintf(args, sizeof args, "generate %s --tokens 5,6,7 -n 4 --json", m);
    expect_nonfinite(args, needles, 2); /* no half JSON document either */
}

Test(cli_nonfinite, logits_stop_and_leave_no_file) {
    const char *m = nan_everywhere();
    char args[800];
    const char *needles[] = {"non-finite logit at position 0"};
    snprintf(args, sizeof args, "logits %s --tokens 5,6,7", m);
    expect_nonfinite(args, needles, 1);
    snprintf(args, sizeof args, "logits %s --tokens 5,6,7 --json", m);
    expect_nonfinite(args, needles, 1);
    char *out = tu_scratch_path("logits.bin");
    snprintf(args, sizeof args, "logits %s --tokens 5,6,7 --out %s", m, out);
    expect_nonfinite(args, needles, 1);
    struct stat st;
    cr_assert_neq(stat(out, &st), 0, "a logits file was left behind");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep -v '[.]sparsa$')\"", tu_scratch_dir());
    cr_assert_eq(system(cmd), 0, "a temporary was left in %s", tu_scratch_dir());
}

Test(cli_nonfinite, eval_task_names_the_sample) {
    const char *m = nan_everywhere();
    char *src = tu_scratch_path("t.src"), *pred = tu_scratch_path("pred.txt");
    FILE *f = fopen(src, "w");
    cr_assert(f);
    fputs("5 6 7\n8 9\n", f);
    cr_assert_eq(fclose(f), 0);
    char args[1200];
    const char *needles[] = {"t.src:1: non-finite logit at position"};
    snprintf(args, sizeof args, "eval-task %s --src %s --trg %s --threads 1 --predictions %s",
             m, src, src, pred);
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 1, "exited %d: %s", rc, err);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, needles[0]), "%s", err);
    cr_assert(!strstr(out, "nan") && !strstr(out, "accuracy"), "a result was printed: %s", out);
    struct stat st;
    cr_assert_neq(stat(pred, &st), 0, "a predictions file was left behind");
    free(out);
    free(err);
}
