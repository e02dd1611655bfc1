/* file_kind.c — what a path is, in words, for the refusals of input_file.c and
 * output_check.c ("x: is a FIFO (named pipe), not a regular file"). */
#include "common_internal.h"

const char *sp_file_kind(mode_t mode) {
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISLNK(mode)) return "a symlink";
    return "not a regular file";
}
