/* common_internal.h — private to common/: what the floor's files share among themselves (the
 * name of a file kind for messages, the recorded input identities). Nothing outside common/
 * includes this header. */
#ifndef SPARSA_COMMON_INTERNAL_H
#define SPARSA_COMMON_INTERNAL_H

#include <sys/stat.h>

#include "sparsa_common.h"

/* "a directory", "a FIFO (named pipe)", "a socket", "a character device", "a block device",
 * "a symlink", "a regular file" or "not a regular file", for messages. */
const char *sp_file_kind(mode_t mode);

/* 1 if (dev, ino) is one of the inputs recorded with sp_inputs_add, or if the record is
 * incomplete (out of memory while recording): then no output is safe to allow. */
int sp_inputs_match(dev_t dev, ino_t ino);

#endif
