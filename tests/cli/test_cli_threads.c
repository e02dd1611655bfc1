/* test_cli_threads.c — the thread pool never spins on a busy machine: sparsa itself sets
 * OMP_WAIT_POLICY=PASSIVE when the user has not chosen (executing itself again once, with the
 * same arguments, standard input and exit status), a user's own choice is kept, and the thread
 * pool never holds more threads than CPUs the process may run on. libgomp shows what it read
 * with OMP_DISPLAY_ENV=verbose (GOMP_SPINCOUNT 0 means passive waiting). Timings are not
 * tested here: bench/threads_busy.sh measures them (default threads against --threads 1 under
 * two busy processes). */
#include <criterion/criterion.h>

#include "tu_cli.h"

#define LLAMA "tests/fixtures/perplexity/ppl-llama.sparsa"

/* Runs a shell line with $SPARSA set; its stdout (malloc'd) and exit status. */
static int run_sh(const char *line, char **out) {
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "SPARSA=%s; %s", tu_sparsa_bin(), line);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t cap = 1 << 16, n = 0, r;
    char *o = calloc(cap, 1);
    while (n < cap - 1 && (r = fread(o + n, 1, cap - n - 1, p)) > 0) n += r;
    int st = pclose(p);
    *out = o;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *c = s; (c = strstr(c, needle)); c += strlen(needle)) n++;
    return n;
}

/* The value libgomp shows for key in the last display block, e.g. "'0'". */
static const char *last_value(const char *s, const char *key) {
    const char *at = NULL;
    for (const char *c = s; (c = strstr(c, key)); c += strlen(key)) at = c;
    return at ? strchr(at, '\'') : NULL;
}

Test(cli_threads, unset_wait_policy_becomes_passive_once) {
    char *out = NULL;
    int rc = run_sh("env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose $SPARSA --version 2>&1", &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(count(out, "OPENMP DISPLAY ENVIRONMENT BEGIN"), 2, "one re-execution: %s", out);
    const char *spin = last_value(out, "GOMP_SPINCOUNT = ");
    cr_assert(spin && !strncmp(spin, "'10000'", 7), "idle threads spin long or not at all: %s",
              out);
    cr_assert_eq(count(out, "sparsa 0.1.0"), 1, "the output is printed once: %s", out);
    free(out);
}

/* A thread count the user forces may land on busy CPUs: when it is more than the CPUs free
 * (here: more than the one CPU taskset leaves), idle workers do not spin. */
Test(cli_threads, a_forced_thread_count_beyond_the_free_cpus_does_not_spin) {
    const char *cmds[] = {
        "env -u OMP_WAIT_POLICY OMP_NUM_THREADS=2 OMP_DISPLAY_ENV=verbose taskset -c 0 $SPARSA --version 2>&1",
        "env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose taskset -c 0 $SPARSA --version --threads 2 2>&1",
        "env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose taskset -c 0 $SPARSA --version --threads=3 2>&1",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char *out = NULL;
        run_sh(cmds[i], &out);
        const char *spin = last_value(out, "GOMP_SPINCOUNT = ");
        cr_assert(spin && !strncmp(spin, "'0'", 3), "idle threads still spin (%s): %s", cmds[i], out);
        free(out);
    }
}

/* One thread always fits in the CPUs free (at least one is counted free): a short spin. */
Test(cli_threads, a_forced_thread_count_that_fits_spins_briefly) {
    char *out = NULL;
    run_sh("env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose $SPARSA --version --threads 1 2>&1", &out);
    const char *spin = last_value(out, "GOMP_SPINCOUNT = ");
    cr_assert(spin && !strncmp(spin, "'10000'", 7), "%s", out);
    free(out);
}

Test(cli_threads, a_users_wait_policy_is_kept) {
    char *out = NULL;
    int rc = run_sh("OMP_WAIT_POLICY=ACTIVE OMP_DISPLAY_ENV=verbose $SPARSA --version 2>&1", &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(count(out, "OPENMP DISPLAY ENVIRONMENT BEGIN"), 1, "no re-execution: %s", out);
    const char *policy = last_value(out, "OMP_WAIT_POLICY = ");
    cr_assert(policy && !strncmp(policy, "'ACTIVE'", 8), "%s", out);
    free(out);
}

Test(cli_threads, input_and_exit_status_pass_through_the_re_execution) {
    char *a = NULL, *b = NULL;
    cr_assert_eq(run_sh("echo 'In the beginning' | env -u OMP_WAIT_POLICY $SPARSA tokenize "
                        LLAMA " -", &a), 0);
    cr_assert_eq(run_sh("echo 'In the beginning' | OMP_WAIT_POLICY=PASSIVE $SPARSA tokenize "
                        LLAMA " -", &b), 0);
    cr_assert(strlen(a) > 2 && a[strlen(a) - 1] == '\n', "%s", a);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    cr_assert_eq(run_sh("env -u OMP_WAIT_POLICY $SPARSA logits /nonexistent.sparsa --tokens 1 "
                        "2>/dev/null", &a), 2);
    free(a);
}

Test(cli_threads, default_thread_count_is_the_cpus_the_process_may_use) {
    if (system("command -v taskset >/dev/null 2>&1") != 0)
        cr_skip_test("taskset (util-linux) is not installed");
    char *out = NULL;
    int rc = run_sh("taskset -c 0 env OMP_DISPLAY_ENV=true $SPARSA --version 2>&1", &out);
    cr_assert_eq(rc, 0, "%s", out);
    const char *n = last_value(out, "OMP_NUM_THREADS = ");
    cr_assert(n && !strncmp(n, "'1'", 3), "one CPU allowed, yet: %s", out);
    free(out);
}
