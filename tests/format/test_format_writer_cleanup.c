/* test_format_writer_cleanup.c — the model-file writer and the cleanup registry: a signal
 * while a file is being written leaves no temporary, a finished file survives a later signal,
 * and an aborted or failed writer leaves nothing and frees its registry slot. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tu_format.h"
#include "tu_signals.h"

static char dir[64];
static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/sparsa_writer_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' || strstr(e->d_name, ".tmp-")) unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}
TestSuite(writer_cleanup, .init = setup, .fini = teardown);

static int entries(void) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Writes part of a model file, then (finish = 1) finishes it, then raises sig. */
static void write_then_signal(const char *path, int finish, int sig) {
    sp_writer *w;
    sp_error err;
    sp_cleanup_install_signals();
    if (sp_writer_create(path, 0, &err, &w)) _exit(3);
    static float data[4096];
    uint64_t dims[1] = {4096};
    if (sp_writer_add_tensor(w, "t", SP_F32, 1, dims, data, SP_COMPRESS_NONE, 0)) _exit(4);
    if (finish && sp_writer_finish(w, &err)) _exit(5);
    raise(sig);
    _exit(6);
}

static int run_child(const char *path, int finish, int sig) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) write_then_signal(path, finish, sig);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

Test(writer_cleanup, a_signal_while_writing_leaves_nothing) {
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/model.sparsa", dir);
        int st = run_child(p, 0, sigs[i]);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == sigs[i], "signal %d: status %d", sigs[i], st);
        cr_assert_eq(entries(), 0, "signal %d: the temporary was left behind", sigs[i]);
    }
}

Test(writer_cleanup, a_finished_file_survives_a_later_signal) {
    char p[128];
    snprintf(p, sizeof p, "%s/model.sparsa", dir);
    int st = run_child(p, 1, SIGTERM);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %d", st);
    cr_assert_eq(entries(), 1);
    sp_file *f;
    sp_error err;
    cr_assert_eq(sp_file_open(p, &f, &err), SP_OK, "%s", err.msg);
    cr_assert_eq(sp_file_tensor_count(f), 1);
    sp_file_close(f);
}

Test(writer_cleanup, abort_and_failure_free_the_registry_slot) {
    char p[128];
    snprintf(p, sizeof p, "%s/model.sparsa", dir);
    /* far more writers than the registry has slots, one after another */
    for (int i = 0; i < 200; i++) {
        sp_writer *w;
        sp_error err;
        cr_assert_eq(sp_writer_create(p, 0, &err, &w), SP_OK, "writer %d: %s", i, err.msg);
        if (i % 2) {
            sp_writer_abort(w);
        } else {
            uint64_t dims[1] = {1};
            sp_writer_begin_tensor(w, "t", SP_F32, 1, dims, SP_COMPRESS_NONE, 0);
            cr_assert_neq(sp_writer_finish(w, &err), SP_OK, "finish mid-tensor must fail");
        }
    }
    cr_assert_eq(entries(), 0, "an aborted or failed writer left a file");
    /* and a slot is free for the next one */
    int slot = sp_cleanup_register(p);
    cr_assert_geq(slot, 0, "the writers leaked their registry slots");
    sp_cleanup_unregister(slot);
}
