/* test_eval_task.c — `sparsa eval-task` against the PyTorch reference's greedy predictions on
 * the bundled synthetic-task models, and its bad-input handling. */
#include <criterion/criterion.h>

#include "tu.h"

#define CMD "eval-task "
#define MODELS "examples/synthetic/models/"
#define TASKS "tests/fixtures/tasks/"

/* Runs eval-task on one model and set; the prediction file must equal the reference's. */
static void check_same_predictions(const char *model, const char *set) {
    char args[1024], pred[] = "/tmp/sparsa_task_predXXXXXX", ref[512];
    int fd = mkstemp(pred);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(args, sizeof args,
             CMD MODELS "%s.sparsa --src " TASKS "copy_%s.src --trg " TASKS "copy_%s.trg "
             "--threads 1 --predictions %s", model, set, set, pred);
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 0, "eval-task failed: %s", err);
    snprintf(ref, sizeof ref, TASKS "%s_%s.ref.pred", model, set);
    size_t n_got, n_ref;
    char *got = tu_read_file(pred, &n_got), *want = tu_read_file(ref, &n_ref);
    cr_assert(got && want);
    cr_assert_eq(n_got, n_ref, "%s %s: prediction files differ in size", model, set);
    cr_assert(!memcmp(got, want, n_ref), "%s %s: predictions differ from the reference", model,
              set);
    remove(pred);
    free(got);
    free(want);
    free(out);
    free(err);
}

Test(eval_task, asentmax_copy_predictions_equal_reference_at_64) {
    check_same_predictions("copy-asentmax-nape", "0_64");
}

Test(eval_task, asentmax_copy_predictions_equal_reference_at_256) {
    check_same_predictions("copy-asentmax-nape", "1_256");
}

Test(eval_task, softmax_copy_predictions_equal_reference_at_64) {
    check_same_predictions("copy-softmax-rope", "0_64");
}

Test(eval_task, softmax_copy_predictions_equal_reference_at_256) {
    check_same_predictions("copy-softmax-rope", "1_256");
}

Test(eval_task, json_reports_one_result_per_pair) {
    char *out = NULL;
    int rc = tu_run_sparsa(CMD MODELS "copy-asentmax-nape.sparsa --json --limit 3 --threads 1 "
                           "--src " TASKS "copy_0_64.src," TASKS "copy_1_256.src "
                           "--trg " TASKS "copy_0_64.trg," TASKS "copy_1_256.trg", &out, NULL);
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, "\"results\""));
    const char *second = strstr(out, "copy_1_256.src");
    cr_assert(second && strstr(out, "\"samples\": 3"), "%s", out);
    free(out);
}

/* Each bad input: exit 2 and exactly one line on stderr. */
static void expect_bad(const char *args) {
    char *err = NULL;
    int rc = tu_run_sparsa(args, NULL, &err);
    cr_expect_eq(rc, 2, "`%s` gave %d", args, rc);
    cr_expect_eq(tu_line_count(err), 1, "`%s` stderr: %s", args, err);
    free(err);
}

Test(eval_task, bad_inputs_exit_2_with_one_line) {
    char bad[] = "/tmp/sparsa_task_badXXXXXX";
    int fd = mkstemp(bad);
    cr_assert(fd >= 0);
    cr_assert(write(fd, "1 2 x\n", 6) == 6);
    close(fd);
    char big[] = "/tmp/sparsa_task_bigXXXXXX";
    fd = mkstemp(big);
    cr_assert(write(fd, "1 2 999\n", 8) == 8); /* 999 is outside the vocabulary */
    close(fd);
    char args[1024];
    expect_bad(CMD MODELS "copy-asentmax-nape.sparsa --src " TASKS "copy_0_64.src");
    expect_bad(CMD MODELS "copy-asentmax-nape.sparsa --src /nonexistent.src --trg " TASKS
               "copy_0_64.trg");
    expect_bad(CMD "/nonexistent.sparsa --src " TASKS "copy_0_64.src --trg " TASKS "copy_0_64.trg");
    expect_bad(CMD MODELS "copy-asentmax-nape.sparsa --src " TASKS "copy_0_64.src --trg " TASKS
               "copy_0_64.trg --max-len-mult -1");
    expect_bad(CMD MODELS "copy-asentmax-nape.sparsa --src " TASKS "copy_0_64.src --trg " TASKS
               "copy_0_64.trg --bos 5000");
    /* different sample counts: 12 sources, 1 target */
    char one[] = "/tmp/sparsa_task_oneXXXXXX";
    fd = mkstemp(one);
    cr_assert(write(fd, "1 2 3\n", 6) == 6);
    close(fd);
    snprintf(args, sizeof args, CMD MODELS "copy-asentmax-nape.sparsa --src " TASKS
             "copy_0_64.src --trg %s", one);
    expect_bad(args);
    remove(one);
    snprintf(args, sizeof args, CMD MODELS "copy-asentmax-nape.sparsa --src %s --trg %s", bad, bad);
    expect_bad(args);
    snprintf(args, sizeof args, CMD MODELS "copy-asentmax-nape.sparsa --src %s --trg %s", big, big);
    expect_bad(args);
    remove(bad);
    remove(big);
}
