/* writer_internal.h — private to format/: the state of a streaming writer (writer*.c). */
#ifndef SPARSA_WRITER_INTERNAL_H
#define SPARSA_WRITER_INTERNAL_H

#include <zstd.h>

#include "format_internal.h"

typedef struct sp_nameset {
    char **slots;
    size_t cap, count;
} sp_nameset;

int sp_nameset_add(sp_nameset *s, const char *name);  /* 1 added, 0 present, -1 no memory */
void sp_nameset_free(sp_nameset *s);

#define SP_WRITE_BUF (1u << 20)

struct sp_writer {
    char *path, *tmp;
    int fd, overwrite;
    int cleanup_slot;      /* tmp's slot in the cleanup registry (removed on signals), or -1 */
    sp_error err;          /* the first error; err.code != 0 once failed */
    uint32_t alignment;

    uint8_t *obuf;         /* output buffer: ofill bytes not yet written */
    size_t ofill;
    uint64_t pos;          /* file offset after the buffered bytes */
    uint64_t data_start;   /* absolute offset of TENSOR_DATA */
    uint64_t writeback_from; /* first byte not yet handed to sync_file_range */
    uint64_t tail_at;      /* where the small sections begin once a draft wrote them, else 0 */
    uint64_t drafted_end;  /* the file's size after the draft */

    sp_buf meta, graph, tok, dir;
    uint64_t meta_count, tensor_count;
    int has_graph, has_tok;
    sp_nameset keys, names;

    /* the tensor being streamed */
    int in_tensor;
    sp_compression comp;
    uint64_t raw_size, received, rel_offset, stored;
    uint32_t crc;
    size_t entry_at;       /* where its directory entry starts in dir */
    ZSTD_CCtx *cctx;
    uint8_t *zout;
    size_t zout_cap;
};

/* Records the first error (later ones are dropped) and returns w->err.code. */
int sp_writer_fail(sp_writer *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Buffered output; 0 ok, else the writer's error code. */
int sp_writer_out(sp_writer *w, const void *data, size_t len);
int sp_writer_pad(sp_writer *w, uint64_t to);  /* zero bytes up to absolute offset `to` */

#endif
