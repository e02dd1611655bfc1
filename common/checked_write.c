/* checked_write.c — writes that cannot fail silently: write(2) to the end, checked stdio
 * flushes, and the end-of-command check of standard output (a full disk or a closed pipe is
 * an error, not exit 0 with lost output). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "sparsa_common.h"

int sp_write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) {  /* no progress and no error: do not spin */
            errno = EIO;
            return -1;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int sp_flush_checked(FILE *f) {
    int bad = fflush(f) != 0;
    return bad || ferror(f) ? -1 : 0;
}

int sp_finish_stdout(int rc) {
    errno = 0;
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int e = errno;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        if (e == EPIPE) {
            /* the reader went away (`sparsa ... | head`): end as the pipe's writer should */
            signal(SIGPIPE, SIG_DFL);
            raise(SIGPIPE);
        }
        fprintf(stderr, "sparsa: write error on standard output: %s\n", strerror(e ? e : EIO));
        fflush(stderr);
        return 1;
    }
    if (fflush(stderr) != 0 || ferror(stderr)) return rc ? rc : 1;
    return rc;
}
