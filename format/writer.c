/* writer.c — the streaming writer's file handling (SPEC.md §1): a temporary sibling of the
 * output, buffered writes, the small sections and the section table at the end, the header
 * patched last, fsync and an atomic rename. Any failure removes the temporary file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkostemp, renameat2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writer_internal.h"

int sp_writer_fail(sp_writer *w, int code, const char *fmt, ...) {
    if (w->err.code) return w->err.code;
    char msg[sizeof w->err.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sp_fail(&w->err, code, "%s", msg);
}

/* Bytes written since the last writeback request: once there are SP_WRITEBACK_STEP of them,
 * the kernel is asked to start writing them to disk now, so the fsync before the rename finds
 * little left to do instead of the whole file (large conversions write hundreds of MB). */
#define SP_WRITEBACK_STEP (32u << 20)

static void start_writeback(sp_writer *w) {
    uint64_t written = w->pos - w->ofill;
    if (written - w->writeback_from < SP_WRITEBACK_STEP) return;
    (void)sync_file_range(w->fd, (off_t)w->writeback_from, (off_t)(written - w->writeback_from),
                          SYNC_FILE_RANGE_WRITE);
    w->writeback_from = written;
}

static int flush(sp_writer *w) {
    if (w->ofill && sp_write_all(w->fd, w->obuf, w->ofill))
        return sp_writer_fail(w, SP_ERR_RUNTIME, "%s: write failed: %s", w->tmp, strerror(errno));
    w->ofill = 0;
    start_writeback(w);
    return SP_OK;
}

int sp_writer_out(sp_writer *w, const void *data, size_t len) {
    const uint8_t *p = data;
    if (w->err.code) return w->err.code;
    if (len >= SP_WRITE_BUF) {
        /* large pieces go straight to the file: one copy fewer */
        if (flush(w)) return w->err.code;
        if (sp_write_all(w->fd, p, len))
            return sp_writer_fail(w, SP_ERR_RUNTIME, "%s: write failed: %s", w->tmp, strerror(errno));
        w->pos += len;
        start_writeback(w);
        return SP_OK;
    }
    while (len) {
        size_t k = SP_WRITE_BUF - w->ofill;
        if (k > len) k = len;
        memcpy(w->obuf + w->ofill, p, k);
        w->ofill += k;
        w->pos += k;
        p += k;
        len -= k;
        if (w->ofill == SP_WRITE_BUF && flush(w)) return w->err.code;
    }
    return SP_OK;
}

int sp_writer_pad(sp_writer *w, uint64_t to) {
    static const uint8_t zeros[256];
    while (w->pos < to && !w->err.code) {
        uint64_t k = to - w->pos;
        sp_writer_out(w, zeros, k < sizeof zeros ? (size_t)k : sizeof zeros);
    }
    return w->err.code;
}

int sp_writer_create(const char *path, int overwrite, sp_error *err, sp_writer **out) {
    *out = NULL;
    struct stat st;
    if (!overwrite && lstat(path, &st) == 0)
        return sp_fail(err, SP_ERR_INPUT, "%s: already exists (refusing to overwrite it)", path);
    sp_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->obuf = malloc(SP_WRITE_BUF))) {
        if (w) free(w->path), free(w->obuf);
        free(w);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    /* registered with the cleanup registry, so SIGINT/SIGTERM/SIGHUP during a conversion leave
     * no temporary behind */
    w->fd = sp_temp_create(path, &w->tmp, &w->cleanup_slot, err);
    if (w->fd < 0) {
        free(w->path), free(w->obuf), free(w);
        return err ? err->code : SP_ERR_RUNTIME;
    }
    w->overwrite = overwrite;
    w->alignment = SP_DEFAULT_ALIGNMENT;
    /* Header placeholder (patched by finish), then padding up to the first tensor. */
    w->data_start = (SP_HEADER_SIZE + w->alignment - 1) / w->alignment * w->alignment;
    sp_writer_pad(w, w->data_start);
    *out = w;
    return SP_OK;
}

static void destroy(sp_writer *w) {
    if (w->fd >= 0) close(w->fd);
    sp_buf_free(&w->meta);
    sp_buf_free(&w->graph);
    sp_buf_free(&w->tok);
    sp_buf_free(&w->dir);
    sp_nameset_free(&w->keys);
    sp_nameset_free(&w->names);
    ZSTD_freeCCtx(w->cctx);
    free(w->zout);
    free(w->obuf);
    free(w->path);
    free(w->tmp);
    free(w);
}

void sp_writer_abort(sp_writer *w) {
    if (!w) return;
    unlink(w->tmp);
    sp_cleanup_unregister(w->cleanup_slot);
    destroy(w);
}

const sp_error *sp_writer_error(const sp_writer *w) { return &w->err; }

typedef struct {
    uint32_t kind;
    uint64_t offset, size;
    uint32_t crc;
} sec_out;

/* Writes one small section at the next multiple of 8. */
static void put_section(sp_writer *w, sec_out *s, uint32_t kind, const sp_buf *b) {
    sp_writer_pad(w, (w->pos + 7) & ~(uint64_t)7);
    s->kind = kind;
    s->offset = w->pos;
    s->size = b->len;
    s->crc = sp_crc32(0, b->s, b->len);
    sp_writer_out(w, b->s, b->len);
}

/* Where the small sections go: after the last tensor the first time; over the draft's, in
 * the same place, when a draft wrote them already (the tensor bytes before them stay as they
 * are). 0 ok. */
static int tail_start(sp_writer *w) {
    if (!w->tail_at) {
        w->tail_at = w->pos;
        return SP_OK;
    }
    if (lseek(w->fd, (off_t)w->tail_at, SEEK_SET) < 0)
        return sp_writer_fail(w, SP_ERR_RUNTIME, "%s: seek failed: %s", w->tmp, strerror(errno));
    w->pos = w->writeback_from = w->tail_at;
    return SP_OK;
}

static void write_tail(sp_writer *w) {
    sec_out secs[5];
    size_t n = 0;
    if (tail_start(w)) return;
    uint64_t data_size = w->pos - w->data_start;
    secs[n++] = (sec_out){SP_SEC_DATA, w->data_start, data_size, 0};
    /* METADATA: count, then the entries serialised so far. */
    sp_buf meta = {0};
    sp_buf_u64(&meta, w->meta_count);
    sp_buf_put(&meta, w->meta.s, w->meta.len);
    sp_buf dir = {0};
    sp_buf_u64(&dir, w->tensor_count);
    sp_buf_put(&dir, w->dir.s, w->dir.len);
    if (meta.oom || dir.oom || w->meta.oom || w->dir.oom || w->graph.oom || w->tok.oom) {
        sp_writer_fail(w, SP_ERR_RUNTIME, "out of memory");
    } else {
        put_section(w, &secs[n++], SP_SEC_METADATA, &meta);
        if (w->has_graph) put_section(w, &secs[n++], SP_SEC_GRAPH, &w->graph);
        if (w->has_tok) put_section(w, &secs[n++], SP_SEC_TOKENIZER, &w->tok);
        put_section(w, &secs[n++], SP_SEC_DIRECTORY, &dir);
    }
    sp_buf_free(&meta);
    sp_buf_free(&dir);
    if (w->err.code) return;
    sp_writer_pad(w, (w->pos + 7) & ~(uint64_t)7);
    uint64_t table = w->pos;
    for (size_t i = 0; i < n; i++) {
        uint8_t e[SP_SECTION_ENTRY] = {0};
        sp_wr32(e, secs[i].kind);
        sp_wr32(e + 4, SP_SECTION_REQUIRED);
        sp_wr64(e + 8, secs[i].offset);
        sp_wr64(e + 16, secs[i].size);
        sp_wr32(e + 24, secs[i].crc);
        sp_writer_out(w, e, sizeof e);
    }
    if (flush(w)) return;
    uint8_t h[SP_HEADER_SIZE] = {0};
    memcpy(h, SP_MAGIC, 8);
    sp_wr16(h + 8, SP_FORMAT_MAJOR);
    sp_wr16(h + 10, SP_FORMAT_MINOR);
    sp_wr32(h + 12, SP_BYTE_ORDER_MARK);
    sp_wr32(h + 16, SP_HEADER_SIZE);
    sp_wr32(h + 20, w->alignment);
    sp_wr64(h + 24, w->pos);
    sp_wr64(h + 32, table);
    sp_wr64(h + 40, n);
    sp_wr32(h + 60, sp_crc32(0, h, 60));
    ssize_t k = pwrite(w->fd, h, sizeof h, 0);
    if (k != (ssize_t)sizeof h)
        sp_writer_fail(w, SP_ERR_RUNTIME, "%s: write failed: %s", w->tmp,
                       k < 0 ? strerror(errno) : "short write");
    else if (w->drafted_end > w->pos && ftruncate(w->fd, (off_t)w->pos))  /* a shorter rewrite */
        sp_writer_fail(w, SP_ERR_RUNTIME, "%s: cannot truncate: %s", w->tmp, strerror(errno));
}

/* Puts the finished temporary file in place: no clobbering unless asked. */
static void publish(sp_writer *w) {
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(w->fd, 0666 & ~mask) || fsync(w->fd)) {
        sp_writer_fail(w, SP_ERR_RUNTIME, "%s: %s", w->tmp, strerror(errno));
        return;
    }
    int closed = close(w->fd);
    w->fd = -1;
    if (closed) {  /* a delayed write error (NFS, quota) shows here */
        sp_writer_fail(w, SP_ERR_RUNTIME, "%s: close failed: %s", w->tmp, strerror(errno));
        return;
    }
    int rc;
    if (w->overwrite) {
        rc = rename(w->tmp, w->path);
    } else {
        rc = renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->path, RENAME_NOREPLACE);
        if (rc && (errno == EINVAL || errno == ENOSYS)) {
            /* file system without RENAME_NOREPLACE: link() refuses to clobber too */
            rc = link(w->tmp, w->path);
            if (!rc) unlink(w->tmp);
        }
        if (rc && errno == EEXIST) {
            sp_writer_fail(w, SP_ERR_INPUT, "%s: already exists (refusing to overwrite it)",
                           w->path);
            return;
        }
    }
    if (rc) {
        sp_writer_fail(w, SP_ERR_RUNTIME, "%s: cannot rename into place: %s", w->path,
                       strerror(errno));
        return;
    }
    /* Make the rename itself durable (best effort: some file systems refuse a directory fsync). */
    char *d = strdup(w->path);
    if (d) {
        int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(d);
    }
}

/* The sections and the header, then the caller's check of the whole temporary file. */
static void write_and_check(sp_writer *w, const char *step, sp_writer_check_fn check, void *ctx) {
    if (w->in_tensor && !w->err.code)
        sp_writer_fail(w, SP_ERR_INPUT, "%s while a tensor is still being written", step);
    if (!w->err.code) write_tail(w);
    if (!w->err.code && check) {
        sp_error cerr = {0};
        /* everything is written: let the disk work while the check reads from the page cache */
        (void)sync_file_range(w->fd, (off_t)w->writeback_from, 0, SYNC_FILE_RANGE_WRITE);
        int crc = check(w->tmp, ctx, &cerr);
        if (crc) {
            w->err = cerr;
            w->err.code = crc;
        }
    }
}

int sp_writer_draft_checked(sp_writer *w, sp_writer_check_fn check, void *ctx, sp_error *err) {
    write_and_check(w, "draft", check, ctx);
    if (!w->err.code) w->drafted_end = w->pos;
    /* the bytes go to the disk now, so that the fsync of the finished file, once the sections
     * are rewritten, has only those left to write */
    if (!w->err.code && sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                                         SYNC_FILE_RANGE_WAIT_AFTER))
        sp_writer_fail(w, SP_ERR_RUNTIME, "%s: cannot write to disk: %s", w->tmp, strerror(errno));
    if (w->err.code && err) *err = w->err;
    return w->err.code;
}

int sp_writer_finish_checked(sp_writer *w, sp_writer_check_fn check, void *ctx, sp_error *err) {
    write_and_check(w, "finish", check, ctx);
    if (!w->err.code) publish(w);
    int code = w->err.code;
    if (code) {
        if (err) *err = w->err;
        sp_writer_abort(w);
        return code;
    }
    sp_cleanup_unregister(w->cleanup_slot);  /* the temporary is now the output */
    destroy(w);
    return SP_OK;
}

int sp_writer_finish(sp_writer *w, sp_error *err) { return sp_writer_finish_checked(w, NULL, NULL, err); }
