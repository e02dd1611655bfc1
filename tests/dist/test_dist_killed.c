/* test_dist_killed.c — a rank whose command is killed mid-run (SIGKILL, as the out-of-memory
 * killer does) under `mpirun -n 2`: the job exits 1 with exactly one line,
 * "sparsa CMD: rank R: died of signal 9 (Killed)", prints no report and leaves no file in
 * the working folder (no output, no temporary), for rank 1 and rank 0, for eval-task (with
 * --predictions), perplexity and kld. Skipped, with the reason, where mpirun is missing. */
#include <criterion/criterion.h>
#include <dirent.h>

#include "tu_dist.h"

#define TASKS "tests/fixtures/tasks/"
#define TASK_MODEL "examples/synthetic/models/copy-asentmax-nape.sparsa"

/* Kills (SIGKILL) the command process of the rank: the child of the process mpirun started
 * that is not this shell, once it exists and after `delay` seconds. */
#define KILL_COMMAND(delay)                                                                     \
    "k() { for c in $(cat /proc/$$/task/*/children); do "                                      \
    "[ \"$(cat /proc/$c/comm)\" != sh ] && echo $c; done; }; "                                 \
    "while [ -z \"$(k)\" ]; do sleep 0.02; done; sleep " delay "; kill -9 $(k)"

/* `sparsa ARGS` (paths relative to the repository) under mpirun -n 2 in an empty folder, the
 * command of rank `victim` killed after `delay` seconds. */
static void expect_killed_rank(const char *cmd, const char *args, int victim, const char *delay) {
    tu_need_mpirun();
    char dir[] = "/tmp/sparsa_dist_killedXXXXXX", line[4096], *out = NULL, *err = NULL;
    cr_assert_not_null(mkdtemp(dir));
    snprintf(line, sizeof line, "export R=$PWD; cd %s && " MPIRUN "2 sh -c '[ \"$OMPI_COMM_WORLD_RANK\" "
             "= %d ] && (" KILL_COMMAND("%s") ") & cd \"$R\" && exec %s%s %s %s'", dir, victim,
             delay, tu_sparsa_bin()[0] == '/' ? "" : "\"$R\"/", tu_sparsa_bin(), cmd, args);
    int rc = tu_dist_run(line, &out, &err);
    char want[128];
    snprintf(want, sizeof want, "sparsa %s: rank %d: died of signal 9 (Killed)\n", cmd, victim);
    cr_assert_eq(rc, 1, "exit %d (rank %d killed): %s", rc, victim, err);
    cr_assert_str_eq(err, want, "not the one line expected");
    cr_assert_str_eq(out, "", "a report was printed");
    tu_dist_expect_left_nothing(dir, out, err);
}

/* Enough work that a rank is still running when its command is killed 0.3 s in, also on a
 * machine several times faster than the one these were timed on (each run below takes 2-4 s
 * of one core in one process). */
#define SRC8(f) f "," f "," f "," f "," f "," f "," f "," f
#define TASK_ARGS TASK_MODEL " --src " SRC8(TASKS "copy_1_256.src") " --trg "                  \
                  SRC8(TASKS "copy_1_256.trg") " --threads 1 --json "                          \
                  "--predictions \"$OLDPWD\"/pred.txt"
#define LONG_TEXT "examples/data/sotu_2001_2021.txt"

Test(dist_killed, eval_task_rank_1, .timeout = 120) {
    expect_killed_rank("eval-task", TASK_ARGS, 1, "0.3");
}

Test(dist_killed, eval_task_rank_0, .timeout = 120) {
    expect_killed_rank("eval-task", TASK_ARGS, 0, "0.3");
}

/* Killed before its first window: the job still agrees on the failure. */
Test(dist_killed, eval_task_rank_1_at_once, .timeout = 120) {
    expect_killed_rank("eval-task", TASK_ARGS, 1, "0");
}

Test(dist_killed, perplexity_rank_1, .timeout = 120) {
    expect_killed_rank("perplexity", TU_PPL_SPARSE " " LONG_TEXT " --ctx 16,32,64,128 "
                       "--max-tokens 40000 --threads 1 --json --no-token-cache", 1, "0.3");
}

Test(dist_killed, kld_rank_0, .timeout = 120) {
    expect_killed_rank("kld", TU_PPL_MODEL " " TU_PPL_SPARSE " " LONG_TEXT " --ctx 64 "
                       "--max-tokens 60000 --threads 1 --json --no-token-cache", 0, "0.3");
}
