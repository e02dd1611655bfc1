/* test_common_input.c — reading inputs under common/'s rules: directories, FIFOs and devices
 * refused at once (a FIFO must not block), a size bound for files and standard input, and the
 * identities of inputs that outputs are checked against. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>

#include "test_common_files.h"

static char dir[64];
static void setup(void) {
    tc_mkdir(dir, sizeof dir);
    alarm(20); /* a read that blocks fails the test instead of hanging the suite */
}
static void teardown(void) {
    sp_inputs_clear();
    tc_rmdir(dir);
}
TestSuite(read_file, .init = setup, .fini = teardown);

static void expect_refused(const char *path, uint64_t max, const char *want) {
    char *data = (char *)"untouched";
    size_t len = 7;
    sp_error err = {0};
    int rc = sp_read_file(path, max, &data, &len, &err);
    cr_assert_eq(rc, SP_ERR_INPUT, "%s: rc %d", path, rc);
    cr_assert_null(data, "%s: data left set on failure", path);
    cr_assert_eq(len, 0);
    cr_assert(strstr(err.msg, want), "%s: message '%s' lacks '%s'", path, err.msg, want);
    cr_assert(strstr(err.msg, path) || !strcmp(path, "-"), "message '%s' does not name %s",
              err.msg, path);
    cr_assert_null(strchr(err.msg, '\n'));
}

Test(read_file, reads_a_regular_file_with_a_terminating_nul) {
    char p[128];
    tc_path(p, sizeof p, dir, "a.txt");
    tc_write(p, "hello\0world", 11);
    char *data;
    size_t len;
    sp_error err;
    cr_assert_eq(sp_read_file(p, 100, &data, &len, &err), SP_OK, "%s", err.msg);
    cr_assert_eq(len, 11);
    cr_assert_eq(memcmp(data, "hello\0world", 11), 0);
    cr_assert_eq(data[11], 0);
    free(data);
}

Test(read_file, an_empty_file_is_an_empty_string) {
    char p[128];
    tc_path(p, sizeof p, dir, "empty");
    tc_write(p, "", 0);
    char *data;
    size_t len = 99;
    sp_error err;
    cr_assert_eq(sp_read_file(p, 100, &data, &len, &err), SP_OK, "%s", err.msg);
    cr_assert_eq(len, 0);
    cr_assert_not_null(data);
    cr_assert_eq(data[0], 0);
    free(data);
}

Test(read_file, the_size_bound_is_exact) {
    char p[128];
    tc_path(p, sizeof p, dir, "hundred");
    char bytes[100];
    memset(bytes, 'q', sizeof bytes);
    tc_write(p, bytes, sizeof bytes);
    char *data;
    size_t len;
    sp_error err;
    cr_assert_eq(sp_read_file(p, 100, &data, &len, &err), SP_OK, "%s", err.msg);
    cr_assert_eq(len, 100);
    free(data);
    expect_refused(p, 99, "larger than 99 bytes");
    expect_refused(p, 0, "larger than 0 bytes");
}

Test(read_file, refuses_a_directory) { expect_refused(dir, 1 << 20, "directory"); }

Test(read_file, refuses_a_fifo_at_once) {
    char p[128];
    tc_path(p, sizeof p, dir, "fifo");
    cr_assert_eq(mkfifo(p, 0600), 0, "mkfifo: %s", strerror(errno));
    expect_refused(p, 1 << 20, "FIFO");
    /* and through sp_open_input too */
    sp_error err;
    cr_assert_eq(sp_open_input(p, NULL, &err), -1);
    cr_assert(strstr(err.msg, "FIFO"), "%s", err.msg);
}

Test(read_file, refuses_a_character_device) {
    expect_refused("/dev/null", 1 << 20, "character device");
    expect_refused("/dev/zero", 1 << 20, "character device");
}

Test(read_file, a_missing_file_is_bad_input) {
    char p[128];
    tc_path(p, sizeof p, dir, "absent");
    expect_refused(p, 100, "cannot open");
}

/* Replaces standard input with the read end of a pipe holding `bytes`. */
static void stdin_from(const char *bytes, size_t n) {
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(write(fds[1], bytes, n), (ssize_t)n);
    close(fds[1]);
    cr_assert_eq(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
    close(fds[0]);
}

Test(read_file, reads_standard_input_for_dash) {
    stdin_from("from a pipe", 11);
    char *data;
    size_t len;
    sp_error err;
    cr_assert_eq(sp_read_file("-", 100, &data, &len, &err), SP_OK, "%s", err.msg);
    cr_assert_eq(len, 11);
    cr_assert_str_eq(data, "from a pipe");
    free(data);
}

Test(read_file, standard_input_has_the_bound_too) {
    stdin_from("0123456789", 10);
    expect_refused("-", 9, "larger than 9 bytes");
}

Test(read_file, an_endless_standard_input_is_cut_at_the_bound) {
    int fd = open("/dev/zero", O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    expect_refused("-", 1 << 20, "larger than 1048576 bytes");
}

Test(read_file, open_input_gives_the_size_and_a_blocking_fd) {
    char p[128];
    tc_path(p, sizeof p, dir, "sized");
    tc_write(p, "12345", 5);
    uint64_t size = 0;
    sp_error err;
    int fd = sp_open_input(p, &size, &err);
    cr_assert_geq(fd, 0, "%s", err.msg);
    cr_assert_eq(size, 5);
    cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "O_NONBLOCK left set");
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "not close-on-exec");
    close(fd);
}
