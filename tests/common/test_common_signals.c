/* test_common_signals.c — the cleanup registry (signals, sp_cleanup_run) and the end-of-command
 * check of standard output: a child killed by SIGTERM while writing leaves no temporary; a
 * full disk on stdout gives exit 1 and one line; a closed pipe ends with SIGPIPE. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "tc_child.h"
#include "test_common_files.h"
#include "tu_signals.h"

static char dir[64];
static void setup(void) { tc_mkdir(dir, sizeof dir); }
static void teardown(void) { tc_rmdir(dir); }
TestSuite(cleanup, .init = setup, .fini = teardown);
TestSuite(finish_stdout, .init = setup, .fini = teardown);

static void open_then_terminate(const char *path, const char *unused) {
    (void)unused;
    static sp_out o; /* reachable at exit: not a leak */
    sp_error err;
    if (sp_out_open(&o, path, 0, &err)) _exit(3);
    fputs("half of it", o.fp);
    fflush(o.fp);
    sp_cleanup_install_signals();
    raise(SIGTERM);
}

Test(cleanup, sigterm_removes_the_temporary_and_kills_with_sigterm) {
    char p[128];
    tc_path(p, sizeof p, dir, "interrupted.bin");
    int st = tc_run("open_then_terminate", p, NULL);
    cr_assert(WIFSIGNALED(st), "the child was not killed (status %d)", st);
    cr_assert_eq(WTERMSIG(st), SIGTERM);
    cr_assert_eq(tc_count_names(dir, ".tmp-"), 0, "a temporary survived SIGTERM");
    cr_assert(!tc_exists(p));
}

static void open_then_interrupt(const char *path, const char *unused) {
    (void)unused;
    static sp_out o; /* reachable at exit: not a leak */
    sp_error err;
    sp_cleanup_install_signals();
    sp_cleanup_install_signals(); /* idempotent */
    if (sp_out_open(&o, path, 0, &err)) _exit(3);
    raise(SIGINT);
}

Test(cleanup, sigint_too) {
    char p[128];
    tc_path(p, sizeof p, dir, "interrupted.bin");
    int st = tc_run("open_then_interrupt", p, NULL);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "status %d", st);
    cr_assert_eq(tc_count_names(dir, ".tmp-"), 0, "a temporary survived SIGINT");
}

static void open_then_exit(const char *path, const char *unused) {
    (void)unused;
    static sp_out o; /* reachable at exit: not a leak */
    sp_error err;
    sp_cleanup_install_signals();
    if (sp_out_open(&o, path, 0, &err)) _exit(3);
    exit(1); /* an error path that forgot to abort: atexit still cleans up */
}

Test(cleanup, exit_without_commit_removes_the_temporary) {
    char p[128];
    tc_path(p, sizeof p, dir, "unfinished.bin");
    int st = tc_run("open_then_exit", p, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    cr_assert_eq(tc_count_names(dir, ".tmp-"), 0, "a temporary survived exit");
}

static void commit_then_terminate(const char *path, const char *unused) {
    (void)unused;
    static sp_out o; /* reachable at exit: not a leak */
    sp_error err;
    sp_cleanup_install_signals();
    if (sp_out_open(&o, path, 0, &err)) _exit(3);
    fputs("done", o.fp);
    if (sp_out_commit(&o, &err)) _exit(4);
    raise(SIGTERM);
}

Test(cleanup, a_committed_output_survives_a_later_signal) {
    char p[128];
    tc_path(p, sizeof p, dir, "finished.bin");
    int st = tc_run("commit_then_terminate", p, NULL);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %d", st);
    char *t = tc_slurp(p);
    cr_assert_not_null(t, "the committed output was removed");
    cr_assert_str_eq(t, "done");
    free(t);
}

Test(cleanup, register_run_and_unregister) {
    char a[128], b[128];
    tc_path(a, sizeof a, dir, "a");
    tc_path(b, sizeof b, dir, "b");
    tc_write(a, "", 0);
    tc_write(b, "", 0);
    int sa = sp_cleanup_register(a), sb = sp_cleanup_register(b);
    cr_assert_geq(sa, 0);
    cr_assert_geq(sb, 0);
    cr_assert_neq(sa, sb);
    sp_cleanup_unregister(sb);
    sp_cleanup_run();
    cr_assert(!tc_exists(a), "a registered path was not removed");
    cr_assert(tc_exists(b), "an unregistered path was removed");
    cr_assert_eq(sp_cleanup_register(""), -1);
    cr_assert_eq(sp_cleanup_register(NULL), -1);
}

Test(cleanup, relative_paths_survive_a_chdir) {
    char cwd[4096];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(dir), 0);
    tc_write("rel", "", 0);
    int s = sp_cleanup_register("rel");
    cr_assert_geq(s, 0);
    cr_assert_eq(chdir("/"), 0);
    sp_cleanup_run();
    cr_assert_eq(chdir(cwd), 0);
    char p[128];
    tc_path(p, sizeof p, dir, "rel");
    cr_assert(!tc_exists(p), "the relative path was resolved against the new folder");
}

Test(cleanup, a_full_table_says_so) {
    int slots[200], n = 0;
    for (; n < 200; n++)
        if ((slots[n] = sp_cleanup_register("/nonexistent/sparsa-slot")) < 0) break;
    cr_assert_lt(n, 200, "the registry never filled up");
    cr_assert_geq(n, 16, "only %d slots", n);
    for (int i = 0; i < n; i++) sp_cleanup_unregister(slots[i]);
    int again = sp_cleanup_register("/nonexistent/sparsa-slot");
    cr_assert_geq(again, 0, "unregistered slots were not freed");
    sp_cleanup_unregister(again);
}

/* ---- standard output at the end of a command --------------------------------------------- */

/* stdout to `path`, stderr to errpath, prints, exits with what sp_finish_stdout says. */
static void print_and_finish(const char *path, const char *errpath) {
    if (!freopen(errpath, "w", stderr) || !freopen(path, "w", stdout)) _exit(5);
    printf("some output\n");
    _exit(sp_finish_stdout(0));
}

static int finish_into(const char *path) {
    char errpath[160];
    snprintf(errpath, sizeof errpath, "%s/stderr", dir);
    return tc_run("print_and_finish", path, errpath);
}

static char *child_stderr(void) {
    char errpath[160];
    snprintf(errpath, sizeof errpath, "%s/stderr", dir);
    return tc_slurp(errpath);
}

Test(finish_stdout, a_full_disk_is_exit_1_with_one_line) {
    if (access("/dev/full", W_OK)) cr_skip_test("/dev/full is not available here");
    int st = finish_into("/dev/full");
    cr_assert(WIFEXITED(st), "status %d", st);
    cr_assert_eq(WEXITSTATUS(st), 1);
    char *e = child_stderr();
    cr_assert_str_eq(e, "sparsa: write error on standard output: No space left on device\n");
    free(e);
}

Test(finish_stdout, all_written_keeps_the_status) {
    char p[128];
    tc_path(p, sizeof p, dir, "stdout.txt");
    int st = finish_into(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    char *t = tc_slurp(p), *e = child_stderr();
    cr_assert_str_eq(t, "some output\n");
    cr_assert_str_eq(e, "");
    free(t);
    free(e);
}

static void write_to_closed_pipe(const char *unused, const char *unused_too) {
    (void)unused, (void)unused_too;
    int fds[2];
    if (pipe(fds)) _exit(5);
    close(fds[0]);
    if (dup2(fds[1], STDOUT_FILENO) < 0) _exit(5);
    signal(SIGPIPE, SIG_IGN); /* so the write fails with EPIPE instead of killing us */
    printf("nobody reads this\n");
    _exit(sp_finish_stdout(0));
}

Test(finish_stdout, a_closed_pipe_ends_with_sigpipe) {
    int st = tc_run("write_to_closed_pipe", NULL, NULL);
    cr_assert(WIFSIGNALED(st), "ended with status %d instead of a signal", st);
    cr_assert_eq(WTERMSIG(st), SIGPIPE);
}

static void finish_with_error_status(const char *path, const char *unused) {
    (void)unused;
    if (!freopen(path, "w", stdout)) _exit(5);
    printf("x");
    _exit(sp_finish_stdout(2));
}

Test(finish_stdout, an_earlier_failure_status_is_kept) {
    char p[128];
    tc_path(p, sizeof p, dir, "stdout.txt");
    int st = tc_run("finish_with_error_status", p, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
}

TC_SCENARIOS({"open_then_terminate", open_then_terminate},
             {"open_then_interrupt", open_then_interrupt},
             {"open_then_exit", open_then_exit},
             {"commit_then_terminate", commit_then_terminate},
             {"print_and_finish", print_and_finish},
             {"write_to_closed_pipe", write_to_closed_pipe},
             {"finish_with_error_status", finish_with_error_status})
