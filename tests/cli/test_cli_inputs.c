/* test_cli_inputs.c — special inputs: a model, corpus, --src or --trg given as a folder, a
 * character device or a FIFO is refused at once (within a time limit, never blocking), each
 * exit 2 with one line naming it; a model or task file given as "-" is a usage error; standard
 * input (tokenize -, a perplexity corpus -) is read with a bound (--max-bytes), so /dev/zero
 * stops quickly, and "-" twice in one corpus list is refused; a corpus read from standard input
 * gives the same result as the same file. */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "tu_cli.h"

#define DIR "tests/fixtures/perplexity/"
#define LLAMA DIR "ppl-llama.sparsa"
#define PSALMS DIR "psalms.txt"
#define TASKS "tests/fixtures/tasks/"
#define SRC TASKS "copy_0_64.src"
#define TRG TASKS "copy_0_64.trg"

static char tmpdir[] = "/tmp/sparsa_cli_inputsXXXXXX";
static char fifo[600];

static void mk_tmp(void) {
    cr_assert(mkdtemp(tmpdir));
    snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
}
static void rm_tmp(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(cli_inputs, .init = mk_tmp, .fini = rm_tmp);

/* `timeout 20 sparsa ARGS` (ARGS with %1$s for the special file) refused: exit 2 (not the 124 of
 * a timeout), one line naming the special file and what it is. */
static void expect_refused_at_once(const char *fmt, const char *special, const char *what) {
    char args[1500], line[1600];
    snprintf(args, sizeof args, fmt, special);
    snprintf(line, sizeof line, "timeout 20 %s %s", tu_sparsa_bin(), args);
    char *err = NULL;
    int rc = tu_run_sparsa_line(line, &err);
    cr_assert_eq(rc, 2, "'%s' exited %d: %s", args, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "'%s': %s", args, err);
    cr_assert(strstr(err, special) && strstr(err, what), "'%s': %s", args, err);
    free(err);
}

static const char *const uses[] = {
    "logits %1$s --tokens 1,2",
    "generate %1$s --tokens 1,2 -n 2",
    "perplexity %1$s " PSALMS,
    "perplexity " LLAMA " %1$s",
    "perplexity " LLAMA " " PSALMS " %1$s",
    "eval-task %1$s --src " SRC " --trg " TRG,
    "eval-task " LLAMA " --src %1$s --trg " TRG,
    "eval-task " LLAMA " --src " SRC " --trg %1$s",
    "tokenize %1$s 'In the beginning'",
    "inspect %1$s",
};

Test(cli_inputs, folders_devices_and_fifos_are_refused_at_once) {
    for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++) {
        expect_refused_at_once(uses[i], tmpdir, "directory");
        expect_refused_at_once(uses[i], "/dev/zero", "character device");
        expect_refused_at_once(uses[i], fifo, "FIFO");
    }
}

Test(cli_inputs, model_and_task_files_cannot_be_standard_input) {
    const char *const cases[] = {"logits - --tokens 1", "generate - --tokens 1", "inspect -",
                                 "perplexity - " PSALMS, "tokenize - abc",
                                 "eval-task - --src " SRC " --trg " TRG,
                                 "eval-task " LLAMA " --src - --trg " TRG,
                                 "eval-task " LLAMA " --src " SRC " --trg -"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tu_expect_bad(cases[i], "not standard input");
}

Test(cli_inputs, standard_input_is_read_with_a_bound) {
    char line[1200], *err = NULL;
    const char *const cases[] = {"tokenize " LLAMA " - --max-bytes 1000",
                                 "perplexity " LLAMA " - --max-bytes 1000"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(line, sizeof line, "timeout 20 %s %s < /dev/zero", tu_sparsa_bin(), cases[i]);
        int rc = tu_run_sparsa_line(line, &err);
        cr_assert_eq(rc, 2, "'%s' exited %d: %s", line, rc, err);
        cr_assert_eq(tu_line_count(err), 1, "%s", err);
        cr_assert(strstr(err, "standard input: larger than 1000 bytes"), "%s", err);
        free(err);
    }
    tu_expect_bad("perplexity " LLAMA " - " PSALMS " - --ctx 64 < " PSALMS,
                  "corpus - (standard input) given twice");
}

Test(cli_inputs, a_corpus_from_standard_input_equals_the_file) {
    char *a = NULL, *b = NULL;
    const char *opts = " --ctx 64 --max-tokens 300 --threads 1 --json";
    char args[600];
    snprintf(args, sizeof args, "perplexity " LLAMA " " PSALMS "%s", opts);
    cr_assert_eq(tu_run_sparsa(args, &a, NULL), 0);
    snprintf(args, sizeof args, "perplexity " LLAMA " -%s < " PSALMS, opts);
    cr_assert_eq(tu_run_sparsa(args, &b, NULL), 0);
    char *file = strstr(a, "\"file\": \"" PSALMS "\""), *dash = strstr(b, "\"file\": \"-\"");
    cr_assert(file && dash, "%s\n%s", a, b);
    /* the rows agree after the file name */
    cr_assert_str_eq(file + strlen("\"file\": \"" PSALMS "\""), dash + strlen("\"file\": \"-\""));
    free(a);
    free(b);
}
