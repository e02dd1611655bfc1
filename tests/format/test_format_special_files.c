/* test_format_special_files.c — the model-file reader given something that is not a regular
 * file: a FIFO (with no writer: a plain open would block forever), a directory, a device. Each
 * is refused at once with SP_ERR_INPUT and a line naming the path and what it is. */
#include <criterion/criterion.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sparsa_format.h"

static void expect_refused(const char *path, const char *kind) {
    sp_file *f = (sp_file *)1;
    sp_error err = {0};
    cr_assert_eq(sp_file_open(path, &f, &err), SP_ERR_INPUT, "%s was opened", path);
    cr_assert_null(f);
    cr_assert(strstr(err.msg, path), "'%s' does not name %s", err.msg, path);
    cr_assert(strstr(err.msg, kind), "'%s' does not say %s", err.msg, kind);
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
}

Test(format_special_files, fifo_directory_and_device_refused_at_once, .timeout = 30) {
    char dir[] = "/tmp/sparsa_fmt_special_XXXXXX", fifo[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/model.fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    expect_refused(fifo, "FIFO");
    expect_refused(dir, "directory");
    expect_refused("/dev/null", "character device");
    expect_refused("/dev/zero", "character device");
    unlink(fifo);
    rmdir(dir);
}

Test(format_special_files, a_missing_file_names_itself) {
    sp_file *f;
    sp_error err = {0};
    cr_assert_eq(sp_file_open("/nonexistent/m.sparsa", &f, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "/nonexistent/m.sparsa") && strstr(err.msg, "cannot open"), "%s",
              err.msg);
}
