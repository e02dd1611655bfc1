/* output_check.c — the rules an output path must pass before anything is opened for writing:
 * never a symlink, a directory, a FIFO, a socket or a device, never one of the command's
 * inputs (same device + inode), and its folder must exist. */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "common_internal.h"

/* The output does not exist yet: its folder must. */
static int check_folder(const char *path, sp_error *err) {
    char *copy = strdup(path);
    if (!copy) return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", path);
    const char *dir = dirname(copy);
    struct stat st;
    int rc = SP_OK;
    if (stat(dir, &st) != 0)
        rc = sp_fail(err, SP_ERR_INPUT, "%s: the folder %s does not exist (%s)", path, dir,
                     strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = sp_fail(err, SP_ERR_INPUT, "%s: %s is %s, not a folder", path, dir,
                     sp_file_kind(st.st_mode));
    free(copy);
    return rc;
}

int sp_output_check(const char *path, int allow_stdout, sp_error *err) {
    if (!path || !*path) return sp_fail(err, SP_ERR_INPUT, "no output path given");
    if (!strcmp(path, "-")) {
        if (allow_stdout) return SP_OK;
        return sp_fail(err, SP_ERR_INPUT, "-: standard output is not allowed as this output");
    }
    if (path[strlen(path) - 1] == '/')
        return sp_fail(err, SP_ERR_INPUT, "%s: names a folder, not a file to write", path);
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return check_folder(path, err);
        return sp_fail(err, SP_ERR_INPUT, "%s: cannot use as an output: %s", path,
                       strerror(errno));
    }
    if (S_ISLNK(st.st_mode))
        return sp_fail(err, SP_ERR_INPUT,
                       "%s: is a symlink (refusing to write through it or replace it)", path);
    if (!S_ISREG(st.st_mode))
        return sp_fail(err, SP_ERR_INPUT, "%s: is %s, refusing to write to it", path,
                       sp_file_kind(st.st_mode));
    if (sp_inputs_match(st.st_dev, st.st_ino))
        return sp_fail(err, SP_ERR_INPUT, "%s: is an input of this command (refusing to overwrite it)",
                       path);
    return SP_OK;
}
