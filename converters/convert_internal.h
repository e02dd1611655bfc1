/* convert_internal.h — the steps of sp_convert (convert.c), shared by the convert*.c files and
 * no one else: streaming tensors through the dtype conversion (convert_stream.c), the
 * self-check of the written file (convert_check.c) and the provenance record
 * (convert_provenance.c). */
#ifndef SPARSA_CONVERT_INTERNAL_H
#define SPARSA_CONVERT_INTERNAL_H

#include <pthread.h>

#include "checkpoint_reader.h"
#include "mapping.h"
#include "sparsa_convert.h"

/* Tensors move in chunks of this many elements, so memory stays near one chunk per buffer. */
enum { CONV_CHUNK_ELEMS = 1 << 20 };

/* Chunk buffers of CONV_CHUNK_ELEMS 8-byte elements: source gather, converted, file read. */
typedef struct chunk_bufs {
    uint8_t *sbuf, *obuf, *fbuf;
} chunk_bufs;

int conv_alloc_bufs(chunk_bufs *b);   /* 1 on success */
void conv_free_bufs(chunk_bufs *b);

/* ---- streaming (convert_stream.c) -------------------------------------------------------------- */

/* n elements from dtype s to dtype d (both floating, or equal). */
void conv_convert_elems(const void *src, sp_dtype s, void *dst, sp_dtype d, size_t n);
/* Streams one mapped tensor: source chunk -> converted chunk -> writer. */
int conv_write_tensor(sp_writer *w, const sp_ckpt *c, const sp_map_tensor *mt, const sp_convert_options *o,
                      chunk_bufs *b, sp_error *err);

/* ---- self-check (convert_check.c) ---------------------------------------------------------------- */

typedef struct conv_check_job {
    const sp_ckpt *c;
    const sp_mapping_result *r;
    sp_out_dtype mode;
    chunk_bufs *bufs;
} conv_check_job;

/* The sp_writer_finish_checked callback (job: a conv_check_job): re-opens the written
 * temporary file and compares its graph and every tensor with the source. */
int conv_self_check_written(const char *temp_path, void *job, sp_error *err);

/* ---- provenance (convert_provenance.c) --------------------------------------------------------- */

/* Every input file with its display name, size and SHA-256: the checkpoint files (hashed on a
 * second thread while the tensors stream out), the config, the tokenizer. */
typedef struct conv_provenance {
    const sp_ckpt *c;
    size_t n;
    const char **names;
    uint64_t *sizes;
    char **hashes;
    pthread_t thread;
    int hashing;          /* the thread is running */
    int rc;               /* the checkpoint hashes' status */
    sp_error err;
} conv_provenance;

/* Lists the inputs and hashes the config and tokenizer bytes (tok may be NULL). */
int conv_provenance_init(conv_provenance *p, const sp_ckpt *c, const char *tokenizer_path, const void *tok,
                         size_t toklen, sp_error *err);
/* Starts hashing the checkpoint files (on a thread when one can be made). */
void conv_provenance_start(conv_provenance *p);
/* Waits for the hashes; their failure, if any. */
int conv_provenance_wait(conv_provenance *p, sp_error *err);
/* Writes the model name, architecture, converter, source and config metadata. */
void conv_provenance_write(sp_writer *w, const conv_provenance *p, const sp_convert_options *o,
                           const sp_mapping *m, const sp_mapping_result *r);
void conv_provenance_free(conv_provenance *p);

/* ---- BOS (convert_bos.c) ------------------------------------------------------------------------ */

/* 1 or 0 when the Hugging Face files beside SRC say whether BOS goes before the text
 * (add_bos_token), else -1. */
int conv_add_bos(const sp_ckpt *c, const char *src);

#endif
