/* output_file.c — atomic outputs (sp_out): bytes go to a hidden temporary in the output's
 * folder, registered with the cleanup registry; commit flushes, fsyncs, closes and renames it
 * over the final name, every step checked. A failure or an abort leaves nothing behind. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkostemp */
#endif
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include "sparsa_common.h"

/* "<dir>/.<base>.tmp-XXXXXX": the same folder, so the final rename is atomic. */
static char *temp_template(const char *path) {
    char *a = strdup(path), *b = strdup(path), *t = NULL;
    if (a && b) {
        const char *dir = dirname(a), *base = basename(b);
        size_t n = strlen(dir) + strlen(base) + 16;
        if ((t = malloc(n))) snprintf(t, n, "%s/.%s.tmp-XXXXXX", dir, base);
    }
    free(a);
    free(b);
    return t;
}

static void release(sp_out *o) {
    free(o->path);
    free(o->tmp);
    *o = (sp_out){.fd = -1, .slot = -1};
}

int sp_temp_create(const char *path, char **tmp, int *slot, sp_error *err) {
    *tmp = NULL;
    *slot = -1;
    char *t = temp_template(path);
    if (!t) return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", path), -1;
    sigset_t stop, was;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT), sigaddset(&stop, SIGTERM), sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, &was);
    int fd = mkostemp(t, O_CLOEXEC), e = errno;
    int s = fd < 0 ? -1 : sp_cleanup_register(t);
    if (fd >= 0 && s < 0) {
        unlink(t);
        close(fd);
    }
    pthread_sigmask(SIG_SETMASK, &was, NULL);  /* a held-back signal now finds it registered */
    if (fd < 0 || s < 0) {
        free(t);
        if (fd < 0)
            sp_fail(err, SP_ERR_RUNTIME, "%s: cannot create a file next to it: %s", path,
                    strerror(e));
        else
            sp_fail(err, SP_ERR_RUNTIME, "%s: too many temporary files open at once", path);
        return -1;
    }
    *tmp = t;
    *slot = s;
    return fd;
}

int sp_out_open(sp_out *o, const char *path, int allow_stdout, sp_error *err) {
    *o = (sp_out){.fd = -1, .slot = -1};
    int rc = sp_output_check(path, allow_stdout, err);
    if (rc) return rc;
    if (!strcmp(path, "-")) {
        o->fp = stdout;
        o->fd = STDOUT_FILENO;
        o->is_stdout = 1;
        return SP_OK;
    }
    if (!(o->path = strdup(path))) {
        release(o);
        return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", path);
    }
    o->fd = sp_temp_create(path, &o->tmp, &o->slot, err);
    if (o->fd < 0) {
        release(o);
        return err ? err->code : SP_ERR_RUNTIME;
    }
    if (!(o->fp = fdopen(o->fd, "wb"))) {
        int e = errno;
        sp_out_abort(o);
        return sp_fail(err, SP_ERR_RUNTIME, "%s: cannot prepare the output: %s", path,
                       strerror(e));
    }
    return SP_OK;
}

/* A temporary is created 0600; the output gets the mode a plain create would give it. */
static int plain_mode(int fd) {
    mode_t mask = umask(0);
    umask(mask);
    return fchmod(fd, 0666 & ~mask);
}

static void fsync_folder(const char *path) {
    char *d = strdup(path);
    if (!d) return;
    int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);  /* best effort: some file systems refuse a folder fsync */
        close(dfd);
    }
    free(d);
}

int sp_out_commit(sp_out *o, sp_error *err) {
    if (o->is_stdout) {
        int bad = sp_flush_checked(stdout);
        int e = errno;
        o->fp = NULL;
        o->is_stdout = 0;
        if (bad) return sp_fail(err, SP_ERR_RUNTIME, "standard output: write failed: %s", strerror(e));
        return SP_OK;
    }
    if (!o->fp) return sp_fail(err, SP_ERR_RUNTIME, "output already committed or aborted");
    const char *step = "write failed";
    int bad = sp_flush_checked(o->fp);
    if (!bad && (bad = plain_mode(o->fd))) step = "cannot set its mode";
    if (!bad && (bad = fsync(o->fd))) step = "cannot sync to disk";
    int e = errno;
    int closed = fclose(o->fp);
    if (!bad && closed) bad = 1, e = errno, step = "cannot close";
    o->fp = NULL;
    o->fd = -1;
    if (!bad && (bad = rename(o->tmp, o->path))) e = errno, step = "cannot rename into place";
    if (bad) {
        int rc = sp_fail(err, SP_ERR_RUNTIME, "%s: %s: %s", o->path, step, strerror(e ? e : EIO));
        sp_out_abort(o);
        return rc;
    }
    fsync_folder(o->path);
    sp_cleanup_unregister(o->slot);
    release(o);
    return SP_OK;
}

void sp_out_abort(sp_out *o) {
    if (!o) return;
    if (o->is_stdout) {
        o->fp = NULL;
        o->is_stdout = 0;
        return;
    }
    if (!o->tmp) return;  /* never opened (a zeroed sp_out), or already released */
    if (o->fp) fclose(o->fp);
    else if (o->fd >= 0) close(o->fd);
    unlink(o->tmp);
    sp_cleanup_unregister(o->slot);
    release(o);
}
