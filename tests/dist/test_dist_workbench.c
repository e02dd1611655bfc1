/* test_dist_workbench.c — eval-task, kld and mc spread over processes: `mpirun -n N` for N = 1,
 * 2, 3 prints the report of one run byte for byte (timing keys aside), and eval-task's and
 * mc's --predictions files are identical; `eval-task` and `mc --shard K/N -o PART` for N = 1,
 * 2, 5 joined by `sparsa merge` print the report of one run (table and JSON); merge refuses a
 * missing part, a part given twice, a part of another model or other settings and a
 * perplexity part among eval-task parts, with one line and exit 2; input errors under mpirun
 * are one line. MPI tests are skipped, with the reason, without mpirun. */
#include <criterion/criterion.h>

#include "tu_cli.h"
#include "tu_dist.h"

#define TASKS "tests/fixtures/tasks/"
#define TASK_MODEL "examples/synthetic/models/copy-asentmax-nape.sparsa"
#define TASK_SOFTMAX "examples/synthetic/models/copy-softmax-rope.sparsa"
#define TASK_ARGS TASK_MODEL " --src " TASKS "copy_0_64.src," TASKS "copy_1_256.src --trg " \
                  TASKS "copy_0_64.trg," TASKS "copy_1_256.trg --threads 1"
#define CORPORA TU_PPL_CORPORA

/* Runs `sparsa ARGS` plainly and under mpirun -n 1..3; the reports must agree (a table's last
 * column is eval-task's seconds), and so must the file pred names (may be NULL). */
static void expect_ranks_agree(const char *args, const char *pred) {
    int seconds_column = strstr(args, "eval-task") && !strstr(args, "--json");
    tu_need_mpirun();
    char line[2048], *ref = NULL, *err = NULL, *ref_pred = NULL;
    snprintf(line, sizeof line, "%s %s", tu_sparsa_bin(), args);
    cr_assert_eq(tu_dist_run(line, &ref, &err), 0, "single run failed: %s", err);
    free(err);
    if (pred) ref_pred = tu_read_file(pred, NULL);
    cr_assert(!pred || (ref_pred && ref_pred[0]), "no predictions written");
    for (int n = 1; n <= 3; n++) {
        char *out = NULL, what[64];
        if (pred) remove(pred);
        snprintf(line, sizeof line, MPIRUN "%d %s %s", n, tu_sparsa_bin(), args);
        int rc = tu_dist_run(line, &out, &err);
        cr_assert_eq(rc, 0, "mpirun -n %d exited %d: %s", n, rc, err);
        cr_assert_str_eq(err, "", "mpirun -n %d wrote on stderr: %s", n, err);
        snprintf(what, sizeof what, "mpirun -n %d", n);
        if (seconds_column) {
            char *a = tu_dist_strip_last_column(out), *b = tu_dist_strip_last_column(ref);
            cr_assert(a[0], "%s: empty report", what);
            cr_assert_str_eq(a, b, "%s:\n%s\n---\n%s", what, out, ref);
            free(a);
            free(b);
        } else
            tu_dist_expect_same(out, ref, what);
        if (pred) {
            char *p = tu_read_file(pred, NULL);
            cr_assert(p && !strcmp(p, ref_pred), "mpirun -n %d: other predictions:\n%s", n, p);
            free(p);
        }
        free(out);
        free(err);
    }
    if (pred) remove(pred);
    free(ref);
    free(ref_pred);
}

Test(dist_workbench, eval_task_json_and_predictions) {
    expect_ranks_agree("eval-task " TASK_ARGS " --json --predictions /tmp/sparsa_dist_wb.pred",
                       "/tmp/sparsa_dist_wb.pred");
}

Test(dist_workbench, eval_task_table_with_limit) {
    expect_ranks_agree("eval-task " TASK_SOFTMAX " --src " TASKS "copy_1_256.src," TASKS
                       "copy_0_64.src --trg " TASKS "copy_1_256.trg," TASKS "copy_0_64.trg "
                       "--limit 5 --threads 1", NULL);
}

Test(dist_workbench, kld_two_files) {
    expect_ranks_agree("kld " TU_PPL_MODEL " " TU_PPL_SPARSE " " CORPORA "--ctx 48 "
                       "--max-tokens 600 --threads 1 --json", NULL);
}

Test(dist_workbench, kld_second_half_table) {
    expect_ranks_agree("kld " TU_PPL_MODEL " " TU_PPL_SPARSE " " CORPORA "--ctx 40 "
                       "--score second-half --max-tokens 500 --threads 1", NULL);
}

Test(dist_workbench, mc_predictions) {
    expect_ranks_agree("mc " TU_PPL_MODEL " tests/fixtures/mc/hellaswag.jsonl --threads 1 --json "
                       "--predictions /tmp/sparsa_dist_mc.jsonl", "/tmp/sparsa_dist_mc.jsonl");
}

Test(dist_workbench, mc_generic_table) {
    expect_ranks_agree("mc " TU_PPL_SPARSE " tests/fixtures/mc/generic.jsonl --threads 1", NULL);
}

/* ---- eval-task --shard and merge ---------------------------------------------------------- */

static char dir[64];

static void make_dir(void) { tu_dist_make_dir(dir, sizeof dir, "/tmp/sparsa_dist_wbXXXXXX"); }

static void write_parts(const char *args, int n, const char *tag) {
    tu_dist_write_parts(dir, "eval-task", args, n, tag);
}

Test(dist_workbench, eval_task_shards_merge) {
    make_dir();
    static const int ns[] = {1, 2, 5};
    for (int i = 0; i < 3; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "n%d", ns[i]);
        write_parts(TASK_ARGS " --limit 9", ns[i], tag);
    }
    for (int json = 0; json <= 1; json++) {
        char line[2048], *ref = NULL, *err = NULL;
        snprintf(line, sizeof line, "%s eval-task " TASK_ARGS " --limit 9%s", tu_sparsa_bin(),
                 json ? " --json" : "");
        cr_assert_eq(tu_dist_run(line, &ref, &err), 0, "single run: %s", err);
        free(err);
        for (int i = 0; i < 3; i++) {
            char glob[32], *out = NULL, what[64];
            snprintf(glob, sizeof glob, "n%d-*.json", ns[i]);
            int rc = tu_dist_merge(dir, glob, json ? "--json" : "", &out, &err);
            cr_assert_eq(rc, 0, "merge of %d parts exited %d: %s", ns[i], rc, err);
            snprintf(what, sizeof what, "merge of %d parts%s", ns[i], json ? " (JSON)" : "");
            if (json) tu_dist_expect_same(out, ref, what);
            else { /* the table's last column is seconds */
                char *a = tu_dist_strip_last_column(out), *b = tu_dist_strip_last_column(ref);
                cr_assert(a[0] && tu_line_count(a) == 4, "%s: %s", what, out);
                cr_assert_str_eq(a, b, "%s:\n%s\n---\n%s", what, out, ref);
                free(a);
                free(b);
            }
            free(out);
            free(err);
        }
        free(ref);
    }
    tu_dist_remove_dir(dir);
}

static void expect_merge_refused(const char *parts, const char *why) {
    char *out = NULL, *err = NULL;
    int rc = tu_dist_merge(dir, parts, "--json", &out, &err);
    cr_assert_eq(rc, 2, "merge %s exited %d: %s", parts, rc, err);
    cr_assert_str_eq(out, "", "merge %s printed a report", parts);
    cr_assert_eq(tu_line_count(err), 1, "one line: %s", err);
    cr_assert(strstr(err, why), "merge %s: expected '%s' in: %s", parts, why, err);
    free(out);
    free(err);
}

Test(dist_workbench, merge_refuses_eval_task_parts_that_do_not_fit) {
    make_dir();
    write_parts(TASK_ARGS " --limit 6", 3, "a");
    write_parts(TASK_SOFTMAX " --src " TASKS "copy_0_64.src," TASKS "copy_1_256.src --trg " TASKS
                "copy_0_64.trg," TASKS "copy_1_256.trg --threads 1 --limit 6", 3, "other");
    write_parts(TASK_ARGS " --limit 5", 3, "limit");
    char line[1024], *out = NULL, *err = NULL;
    snprintf(line, sizeof line, "%s perplexity " TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --ctx 32 "
             "--max-tokens 200 --shard 1/3 -o %s/ppl-1.json", tu_sparsa_bin(), dir);
    cr_assert_eq(tu_dist_run(line, &out, &err), 0, "%s", err);
    free(out);
    free(err);
    expect_merge_refused("a-0.json a-2.json", "part 1/3 is missing (run eval-task with --shard");
    expect_merge_refused("a-0.json a-1.json a-1.json a-2.json", "part 1/3 given twice");
    expect_merge_refused("a-0.json other-1.json a-2.json", "another model");
    expect_merge_refused("a-0.json limit-1.json a-2.json", "other settings");
    expect_merge_refused("a-0.json ppl-1.json a-2.json", "is a part of perplexity --shard");
    tu_dist_remove_dir(dir);
}

/* --shard under mpirun, --shard without -o and --shard with --predictions: one line, exit 2. */
Test(dist_workbench, eval_task_shard_refusals) {
    char line[1024], *out = NULL, *err = NULL;
    snprintf(line, sizeof line, "%s eval-task " TASK_ARGS " --shard 0/2", tu_sparsa_bin());
    cr_assert_eq(tu_dist_run(line, &out, &err), 2, "%s", err);
    cr_assert(strstr(err, "--shard needs -o PART") && tu_line_count(err) == 1, "%s", err);
    free(out);
    free(err);
    snprintf(line, sizeof line, "%s eval-task " TASK_ARGS " --shard 0/2 -o /tmp/sparsa_x.json "
             "--predictions /tmp/sparsa_x.pred", tu_sparsa_bin());
    cr_assert_eq(tu_dist_run(line, &out, &err), 2, "%s", err);
    cr_assert(strstr(err, "--predictions") && tu_line_count(err) == 1, "%s", err);
    free(out);
    free(err);
    tu_need_mpirun();
    snprintf(line, sizeof line, MPIRUN "2 %s eval-task " TASK_ARGS " --shard 0/2 -o "
             "/tmp/sparsa_dist_never.json", tu_sparsa_bin());
    cr_assert_eq(tu_dist_run(line, &out, &err), 2, "%s", err);
    cr_assert(strstr(err, "cannot be combined with mpirun") && tu_line_count(err) == 1, "%s", err);
    cr_assert_eq(access("/tmp/sparsa_dist_never.json", F_OK), -1, "a part was written");
    free(out);
    free(err);
}

/* Input errors found by every rank (or by rank 0 alone, opening --predictions): one line from
 * rank 0, exit 2, nothing on stdout. */
static void expect_input_error_once(const char *args, const char *why) {
    tu_need_mpirun();
    char line[2048], *out = NULL, *err = NULL;
    snprintf(line, sizeof line, MPIRUN "3 %s %s", tu_sparsa_bin(), args);
    int rc = tu_dist_run(line, &out, &err);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert_str_eq(out, "", "a report was printed");
    cr_assert_eq(tu_line_count(err), 1, "one line: %s", err);
    cr_assert(strstr(err, why), "expected '%s' in: %s", why, err);
    free(out);
    free(err);
}

Test(dist_workbench, input_errors_reported_once) {
    expect_input_error_once("eval-task " TASK_ARGS " --bos 99999",
                            "sparsa eval-task: special ids outside the vocabulary");
    expect_input_error_once("kld " TU_PPL_MODEL " " TASK_MODEL " " CORPORA,
                            "sparsa kld: " TASK_MODEL " holds no tokenizer");
    expect_input_error_once("mc " TU_PPL_MODEL " tests/fixtures/mc/arc.jsonl --predictions "
                            "/nonexistent/p.jsonl", "sparsa mc: /nonexistent/p.jsonl");
}

/* ---- mc --shard and merge ----------------------------------------------------------------- */

static void write_mc_parts(const char *model, const char *task, int n, const char *tag) {
    for (int k = 0; k < n; k++) {
        char line[2048], *out = NULL, *err = NULL;
        snprintf(line, sizeof line, "%s mc %s %s --threads 1 --shard %d/%d -o %s/%s-%d.json",
                 tu_sparsa_bin(), model, task, k, n, dir, tag, k);
        int rc = tu_dist_run(line, &out, &err);
        cr_assert_eq(rc, 0, "mc shard %d/%d exited %d: %s", k, n, rc, err);
        cr_assert_str_eq(out, "", "a shard prints nothing");
        free(out);
        free(err);
    }
}

Test(dist_workbench, mc_shards_merge) {
    make_dir();
    static const int ns[] = {1, 2, 5};
    const char *task = "tests/fixtures/mc/winogrande.jsonl";
    for (int i = 0; i < 3; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "n%d", ns[i]);
        write_mc_parts(TU_PPL_MODEL, task, ns[i], tag);
    }
    write_mc_parts(TU_PPL_SPARSE, task, 2, "other");
    for (int json = 0; json <= 1; json++) {
        char line[2048], *ref = NULL, *err = NULL;
        snprintf(line, sizeof line, "%s mc " TU_PPL_MODEL " %s --threads 1%s", tu_sparsa_bin(),
                 task, json ? " --json" : "");
        cr_assert_eq(tu_dist_run(line, &ref, &err), 0, "single run: %s", err);
        free(err);
        for (int i = 0; i < 3; i++) {
            char glob[32], *out = NULL;
            snprintf(glob, sizeof glob, "n%d-*.json", ns[i]);
            int rc = tu_dist_merge(dir, glob, json ? "--json" : "", &out, &err);
            cr_assert_eq(rc, 0, "merge of %d mc parts exited %d: %s", ns[i], rc, err);
            cr_assert_str_eq(out, ref, "merge of %d mc parts differs from one run", ns[i]);
            free(out);
            free(err);
        }
        free(ref);
    }
    expect_merge_refused("n2-0.json", "part 1/2 is missing (run mc with --shard 1/2)");
    expect_merge_refused("n2-0.json other-1.json", "another model");
    expect_merge_refused("n2-0.json n2-0.json", "part 0/2 given twice");
    tu_dist_remove_dir(dir);
}
