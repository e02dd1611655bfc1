/* test_common_output.c — the output rules (sp_output_check) and atomic outputs (sp_out):
 * symlinks, FIFOs, folders, devices, inputs (hard link, symlink) and missing folders refused;
 * before commit the final path is absent or unchanged, after it the bytes are there, and an
 * abort or a failure leaves no temporary behind. */
#include <errno.h>
#include <fcntl.h>
#include <sys/sysmacros.h>

#include "test_common_files.h"

static char dir[64];
static void setup(void) { tc_mkdir(dir, sizeof dir); }
static void teardown(void) {
    sp_inputs_clear();
    tc_rmdir(dir);
}
TestSuite(output_check, .init = setup, .fini = teardown);
TestSuite(out_file, .init = setup, .fini = teardown);

static void expect_refused(const char *path, const char *want) {
    sp_error err = {0};
    int rc = sp_output_check(path, 1, &err);
    cr_assert_eq(rc, SP_ERR_INPUT, "%s: accepted as an output (rc %d)", path, rc);
    cr_assert(strstr(err.msg, want), "%s: message '%s' lacks '%s'", path, err.msg, want);
    cr_assert_null(strchr(err.msg, '\n'));
    /* and sp_out_open leaves the path as it was, with no temporary beside it */
    struct stat before, after;
    int existed = lstat(path, &before) == 0;
    sp_out o;
    cr_assert_eq(sp_out_open(&o, path, 1, &err), SP_ERR_INPUT, "%s: sp_out_open accepted", path);
    cr_assert_eq(lstat(path, &after) == 0, existed);
    if (existed) {
        cr_assert_eq(before.st_ino, after.st_ino);
        cr_assert_eq(before.st_mode, after.st_mode);
    }
    cr_assert_eq(tc_count_names(dir, ".tmp-"), 0, "a temporary was left behind");
}

static void expect_allowed(const char *path) {
    sp_error err = {0};
    cr_assert_eq(sp_output_check(path, 1, &err), SP_OK, "%s refused: %s", path, err.msg);
}

Test(output_check, accepts_a_new_path_and_an_existing_regular_file) {
    char p[128];
    tc_path(p, sizeof p, dir, "new.out");
    expect_allowed(p);
    tc_write(p, "old", 3);
    expect_allowed(p);
}

Test(output_check, standard_output_only_where_allowed) {
    sp_error err = {0};
    cr_assert_eq(sp_output_check("-", 1, &err), SP_OK);
    cr_assert_eq(sp_output_check("-", 0, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "standard output"), "%s", err.msg);
    cr_assert_eq(sp_output_check("", 1, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "no output path given"), "%s", err.msg);
    err = (sp_error){0};
    cr_assert_eq(sp_output_check(NULL, 1, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "no output path given"), "%s", err.msg);
}

Test(output_check, refuses_a_symlink_even_a_dangling_one) {
    char target[128], link1[128], link2[128];
    tc_path(target, sizeof target, dir, "target");
    tc_path(link1, sizeof link1, dir, "link");
    tc_path(link2, sizeof link2, dir, "dangling");
    tc_write(target, "t", 1);
    cr_assert_eq(symlink(target, link1), 0);
    cr_assert_eq(symlink("/nonexistent/x", link2), 0);
    expect_refused(link1, "symlink");
    expect_refused(link2, "symlink");
    char *t = tc_slurp(target);
    cr_assert_str_eq(t, "t", "the symlink's target was changed");
    free(t);
}

Test(output_check, refuses_a_fifo_and_a_directory) {
    char fifo[128], sub[128];
    tc_path(fifo, sizeof fifo, dir, "fifo");
    tc_path(sub, sizeof sub, dir, "sub");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(mkdir(sub, 0700), 0);
    expect_refused(fifo, "FIFO");
    expect_refused(sub, "directory");
    struct stat st;
    cr_assert_eq(stat(fifo, &st), 0);
    cr_assert(S_ISFIFO(st.st_mode), "the FIFO was replaced");
    rmdir(sub);
}

Test(output_check, refuses_character_devices) {
    expect_refused("/dev/null", "character device");
    struct stat st;
    cr_assert_eq(stat("/dev/null", &st), 0);
    cr_assert(S_ISCHR(st.st_mode), "/dev/null is no longer a device");
    if (geteuid() != 0) cr_skip_test("mknod of a device node needs root");
    char node[128];
    tc_path(node, sizeof node, dir, "null-node");
    cr_assert_eq(mknod(node, S_IFCHR | 0600, makedev(1, 3)), 0, "mknod: %s", strerror(errno));
    expect_refused(node, "character device");
    cr_assert_eq(stat(node, &st), 0);
    cr_assert(S_ISCHR(st.st_mode), "the device node was replaced");
}

Test(output_check, refuses_an_input_by_any_name) {
    char in[128], hard[128], sym[128], other[128];
    tc_path(in, sizeof in, dir, "input.txt");
    tc_path(hard, sizeof hard, dir, "hard-link");
    tc_path(sym, sizeof sym, dir, "sym-link");
    tc_path(other, sizeof other, dir, "other.txt");
    tc_write(in, "precious", 8);
    tc_write(other, "x", 1);
    cr_assert_eq(link(in, hard), 0);
    cr_assert_eq(symlink(in, sym), 0);
    expect_allowed(in); /* nothing recorded yet */
    sp_inputs_add(sym);  /* recorded through a symlink: the file it names counts */
    expect_refused(in, "input");
    expect_refused(hard, "input");
    expect_refused(sym, "symlink");
    expect_allowed(other);
    char *t = tc_slurp(in);
    cr_assert_str_eq(t, "precious");
    free(t);
    sp_inputs_clear();
    expect_allowed(in);
}

Test(output_check, ignores_absent_inputs_and_dash) {
    char p[128];
    tc_path(p, sizeof p, dir, "later");
    sp_inputs_add(p);
    sp_inputs_add("-");
    tc_write(p, "created after", 13);
    expect_allowed(p);
}

Test(output_check, refuses_a_path_that_names_a_folder) {
    char p[128];
    snprintf(p, sizeof p, "%s/not-yet/", dir);
    sp_error err = {0};
    cr_assert_eq(sp_output_check(p, 1, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "folder"), "%s", err.msg);
    snprintf(p, sizeof p, "%s/", dir);
    err = (sp_error){0};
    cr_assert_eq(sp_output_check(p, 1, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, p) && strstr(err.msg, "names a folder"), "%s", err.msg);
}

Test(output_check, refuses_a_missing_folder) {
    char p[128];
    tc_path(p, sizeof p, dir, "no-such-folder/out.bin");
    sp_error err = {0};
    cr_assert_eq(sp_output_check(p, 1, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "folder"), "%s", err.msg);
    err = (sp_error){0};
    cr_assert_eq(sp_output_check("/nonexistent-sparsa-dir/x", 1, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "the folder /nonexistent-sparsa-dir does not exist"), "%s",
              err.msg);
    char file[128], under[160];
    tc_path(file, sizeof file, dir, "plain");
    tc_write(file, "", 0);
    snprintf(under, sizeof under, "%s/x", file);
    err = (sp_error){0};
    cr_assert_eq(sp_output_check(under, 1, &err), SP_ERR_INPUT, "a file used as a folder");
    cr_assert(strstr(err.msg, under) && strstr(err.msg, "cannot use as an output"), "%s",
              err.msg);
}

/* ---- atomic outputs ---------------------------------------------------------------------- */

Test(out_file, a_new_output_appears_only_at_commit) {
    char p[128];
    tc_path(p, sizeof p, dir, "result.bin");
    sp_out o;
    sp_error err;
    cr_assert_eq(sp_out_open(&o, p, 0, &err), SP_OK, "%s", err.msg);
    cr_assert_not_null(o.fp);
    cr_assert(!o.is_stdout);
    cr_assert_not_null(strstr(o.tmp, "/.result.bin.tmp-"), "temporary '%s'", o.tmp);
    cr_assert_eq(fputs("all the bytes", o.fp) >= 0, 1);
    cr_assert(!tc_exists(p), "the final path exists before commit");
    cr_assert_eq(tc_count_names(dir, ".tmp-"), 1);
    cr_assert_eq(sp_out_commit(&o, &err), SP_OK, "%s", err.msg);
    char *t = tc_slurp(p);
    cr_assert_str_eq(t, "all the bytes");
    free(t);
    cr_assert_eq(tc_count_names(dir, ".tmp-"), 0, "the temporary is left");
    mode_t mask = umask(0);
    umask(mask);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0666 & ~mask, "mode %o", st.st_mode & 0777);
    sp_out_abort(&o); /* after commit: nothing to do, nothing removed */
    cr_assert(tc_exists(p));
}

Test(out_file, an_existing_output_is_unchanged_until_commit) {
    char p[128];
    tc_path(p, sizeof p, dir, "existing.txt");
    tc_write(p, "old", 3);
    sp_out o;
    sp_error err;
    cr_assert_eq(sp_out_open(&o, p, 0, &err), SP_OK, "%s", err.msg);
    fputs("new contents", o.fp);
    fflush(o.fp);
    char *t = tc_slurp(p);
    cr_assert_str_eq(t, "old", "the output changed before commit");
    free(t);
    cr_assert_eq(sp_out_commit(&o, &err), SP_OK, "%s", err.msg);
    t = tc_slurp(p);
    cr_assert_str_eq(t, "new contents");
    free(t);
}

Test(out_file, abort_leaves_nothing) {
    char p[128], q[128];
    tc_path(p, sizeof p, dir, "aborted.bin");
    tc_path(q, sizeof q, dir, "kept.txt");
    tc_write(q, "keep", 4);
    sp_out a, b;
    sp_error err;
    cr_assert_eq(sp_out_open(&a, p, 0, &err), SP_OK, "%s", err.msg);
    cr_assert_eq(sp_out_open(&b, q, 0, &err), SP_OK, "%s", err.msg);
    fputs("partial", a.fp);
    fputs("partial", b.fp);
    sp_out_abort(&a);
    sp_out_abort(&b);
    sp_out_abort(&a); /* twice is safe */
    cr_assert(!tc_exists(p), "an aborted new output exists");
    char *t = tc_slurp(q);
    cr_assert_str_eq(t, "keep", "an abort changed the existing file");
    free(t);
    cr_assert_eq(tc_count_names(dir, ".tmp-"), 0, "a temporary is left after abort");
}

Test(out_file, abort_of_a_zeroed_output_touches_no_descriptor) {
    sp_out o;
    memset(&o, 0, sizeof o);
    int before = fcntl(0, F_GETFD);
    sp_out_abort(&o);
    cr_assert_eq(fcntl(0, F_GETFD), before, "descriptor 0 was closed");
}

Test(out_file, standard_output_for_dash_where_allowed) {
    sp_out o;
    sp_error err;
    cr_assert_eq(sp_out_open(&o, "-", 0, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "standard output is not allowed"), "%s", err.msg);
    cr_assert_eq(sp_out_open(&o, "-", 1, &err), SP_OK, "%s", err.msg);
    cr_assert(o.is_stdout);
    cr_assert_eq(o.fp, stdout);
    cr_assert_null(o.tmp);
    cr_assert_eq(sp_out_commit(&o, &err), SP_OK, "%s", err.msg);
}

Test(out_file, the_temporary_is_registered_for_cleanup) {
    char p[128];
    tc_path(p, sizeof p, dir, "registered.bin");
    sp_out o;
    sp_error err;
    cr_assert_eq(sp_out_open(&o, p, 0, &err), SP_OK, "%s", err.msg);
    cr_assert_geq(o.slot, 0);
    cr_assert(tc_exists(o.tmp));
    sp_cleanup_run(); /* what an error path or exit does */
    cr_assert(!tc_exists(o.tmp), "sp_cleanup_run left the temporary");
    sp_out_abort(&o);
}
