/* input_file.c — opening and reading an input file under sparsa's rules: only regular files
 * (standard input for "-" in sp_read_file), refused before anything can block, and read with a
 * size bound so neither a huge file nor an endless stream can exhaust memory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common_internal.h"

static int refuse_kind(const char *path, mode_t mode, sp_error *err) {
    return sp_fail(err, SP_ERR_INPUT, "%s: is %s, not a regular file", path, sp_file_kind(mode));
}

int sp_open_input(const char *path, uint64_t *size, sp_error *err) {
    struct stat st;
    if (!path || !*path) return sp_fail(err, SP_ERR_INPUT, "no input file named"), -1;
    /* stat first: opening a device can have effects of its own */
    if (stat(path, &st) != 0)
        return sp_fail(err, SP_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno)), -1;
    if (!S_ISREG(st.st_mode)) return refuse_kind(path, st.st_mode, err), -1;
    /* non-blocking, so a path swapped for a FIFO since the stat cannot hang the open */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return sp_fail(err, SP_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno)), -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        if (S_ISREG(st.st_mode)) sp_fail(err, SP_ERR_INPUT, "%s: cannot open: %s", path, strerror(e));
        else refuse_kind(path, st.st_mode, err);
        close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    if (size) *size = (uint64_t)st.st_size;
    return fd;
}

/* A buffer of n bytes for reading into (freed by free). Large ones are aligned to 2 MiB and
 * asked to be backed by huge pages: read() fills fresh memory, and on a warm page cache faulting
 * in (and zeroing) 4 KiB pages one by one costs more than the copy itself. */
static char *alloc_read_buffer(size_t n) {
    enum { HUGE = 2u << 20 };
    if (n < 2 * (size_t)HUGE) return malloc(n);
    void *p = NULL;
    if (posix_memalign(&p, HUGE, n)) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n / HUGE * HUGE, MADV_HUGEPAGE); /* advice only: fine if refused */
#endif
    return p;
}

/* Reads fd to its end into a malloc'd, NUL-terminated buffer; refuses more than max bytes
 * (reads at most max + 1). hint: the expected size, to allocate once. */
static int read_bounded(int fd, const char *name, uint64_t max, uint64_t hint, char **data,
                        size_t *len, sp_error *err) {
    size_t cap = hint < max ? (size_t)hint + 1 : (size_t)max + 1, n = 0;
    if (cap < 4096) cap = 4096;
    char *buf = alloc_read_buffer(cap + 1);
    if (!buf) return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", name);
    for (;;) {
        if (n == cap) {
            if ((uint64_t)n > max) break;
            size_t grown = cap > max / 2 ? (size_t)max + 1 : cap * 2;
            char *nb = realloc(buf, grown + 1);
            if (!nb) {
                free(buf);
                return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", name);
            }
            buf = nb;
            cap = grown;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {  /* a non-blocking stdin */
            struct pollfd p = {fd, POLLIN, 0};
            (void)poll(&p, 1, -1);
            continue;
        }
        if (r < 0) {
            int e = errno;
            free(buf);
            return sp_fail(err, SP_ERR_INPUT, "%s: cannot read: %s", name, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if ((uint64_t)n > max) {
        free(buf);
        return sp_fail(err, SP_ERR_INPUT, "%s: larger than %llu bytes (the limit)", name,
                       (unsigned long long)max);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return SP_OK;
}

int sp_read_file(const char *path, uint64_t max_bytes, char **data, size_t *len, sp_error *err) {
    *data = NULL;
    *len = 0;
    if (max_bytes >= SIZE_MAX - 2) max_bytes = SIZE_MAX - 2;
    if (path && !strcmp(path, "-"))
        return read_bounded(STDIN_FILENO, "standard input", max_bytes, 0, data, len, err);
    uint64_t size = 0;
    int fd = sp_open_input(path, &size, err);
    if (fd < 0) return err ? err->code : SP_ERR_INPUT;
    int rc;
    if (size > max_bytes)
        rc = sp_fail(err, SP_ERR_INPUT, "%s: larger than %llu bytes (the limit)", path,
                     (unsigned long long)max_bytes);
    else
        rc = read_bounded(fd, path, max_bytes, size, data, len, err);
    close(fd);
    return rc;
}
