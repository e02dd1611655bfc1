/* convert_internal.h — the steps of sp_convert (convert.c), shared by the convert*.c files and
 * no one else: streaming tensors through the dtype conversion (convert_stream.c), the
 * self-check of the written file (convert_check.c) and the provenance record
 * (convert_provenance.c). */
#ifndef SPARSA_CONVERT_INTERNAL_H
#define SPARSA_CONVERT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "checkpoint_reader.h"
#include "mapping.h"
#include "sparsa_convert.h"

/* Tensors move in chunks of this many elements, so memory stays near one chunk per buffer; 256 KB
 * of f32, so that a chunk read from the checkpoint stays in the core's cache while it is scanned
 * for NaN/Inf, CRC'd and handed to the writer (bench/README.md, "Conversion speed"). */
enum { CONV_CHUNK_ELEMS = 1 << 16 };

/* Chunk buffers of CONV_CHUNK_ELEMS 8-byte elements: source gather, converted, file read. */
typedef struct chunk_bufs {
    uint8_t *sbuf, *obuf, *fbuf;
} chunk_bufs;

int conv_alloc_bufs(chunk_bufs *b);   /* 1 on success */
void conv_free_bufs(chunk_bufs *b);

/* ---- streaming (convert_stream.c) -------------------------------------------------------------- */

/* n elements from dtype s to dtype d (both floating, or equal). */
void conv_convert_elems(const void *src, sp_dtype s, void *dst, sp_dtype d, size_t n);
/* Streams one mapped tensor: source chunk -> converted chunk -> writer; *crc is the CRC-32 of
 * the bytes handed to the writer (the tensor as the output holds it, before any compression),
 * what the self-check finds again in the written file. */
int conv_write_tensor(sp_writer *w, const sp_ckpt *c, const sp_map_tensor *mt, const sp_convert_options *o,
                      chunk_bufs *b, uint32_t *crc, sp_error *err);

/* ---- self-check (convert_check.c) ---------------------------------------------------------------- */

typedef struct conv_provenance conv_provenance;

/* Where the draft put one tensor's stored bytes, as its directory says. */
typedef struct conv_placed {
    uint64_t offset, stored_size;
    uint32_t crc32;
    sp_compression compression;
} conv_placed;

typedef struct conv_check_job {
    const sp_ckpt *c;
    const sp_mapping_result *r;
    sp_out_dtype mode;
    chunk_bufs *bufs;
    int threads;                 /* for the tensor comparison, at least 1 */
    conv_provenance *hash;       /* while it runs, one more thread waits to help once it ends */
    const uint32_t *crcs;        /* [r->ntensors]: each tensor's CRC-32 as streamed */
    conv_placed *placed;         /* [r->ntensors], filled by the draft's check */
    const char *const *hashes;   /* for the final check: source.sha256 as it must read */
    size_t nhashes;
} conv_check_job;

/* The check of the draft (sp_writer_draft_checked; job: a conv_check_job): re-opens the
 * written temporary file, compares its graph with the one written and every tensor with its
 * source (the CRC-32 of its bytes read back from the file against the one computed on the
 * source's bytes as they were streamed; compressed tensors decompressed and compared byte for
 * byte with the source), and notes where each tensor lies. */
int conv_self_check_written(const char *temp_path, void *job, sp_error *err);
/* The check of the finished file, once its small sections are written again with the hashes
 * (sp_writer_finish_checked): the graph, each tensor's directory entry the same as the
 * draft's (its bytes were compared then and are not written again), and source.sha256. */
int conv_self_check_final(const char *temp_path, void *job, sp_error *err);

/* ---- provenance (convert_provenance.c) --------------------------------------------------------- */

/* Every input file with its display name, size and SHA-256: the checkpoint files (hashed by
 * conv_provenance_run from the moment they are open, while another thread streams the
 * tensors), the config, the tokenizer. */
struct conv_provenance {
    const sp_ckpt *c;
    size_t n;
    const char **names;
    uint64_t *sizes;
    char **hashes;
    const char **shown;   /* the hashes as written: stand-ins until conv_provenance_wait */
    int hashed;           /* conv_provenance_wait has run: the checkpoint hashes are in */
    atomic_int stop;      /* set when the conversion gives up: the hash stops early */
    atomic_int done;      /* set when the hash has finished, announced through gate */
    pthread_mutex_t gate_lock;
    pthread_cond_t gate;
    int rc;               /* the checkpoint hashes' status */
    sp_error err;
};

/* Lists the checkpoint files and the config (whose bytes it hashes). */
int conv_provenance_init(conv_provenance *p, const sp_ckpt *c, sp_error *err);
/* Adds the tokenizer's bytes as the last input. */
void conv_provenance_add_tokenizer(conv_provenance *p, const char *path, const void *tok, size_t toklen);
/* Hashes the checkpoint files on the calling thread, then sets done (stops early once stop is
 * set). */
void conv_provenance_run(conv_provenance *p);
/* Once conv_provenance_run has returned: the hashes are in; their failure, if any. */
int conv_provenance_wait(conv_provenance *p, sp_error *err);
/* Sleeps until the hash has finished (1) or *give_up is set and announced with
 * conv_provenance_wake (0). */
int conv_provenance_await(conv_provenance *p, atomic_int *give_up);
void conv_provenance_wake(conv_provenance *p);
/* Writes the model name, architecture, converter, source and config metadata; before
 * conv_provenance_wait, each checkpoint file's hash is a stand-in of the same length. */
void conv_provenance_write(sp_writer *w, conv_provenance *p, const sp_convert_options *o,
                           const sp_mapping *m, const sp_mapping_result *r);
void conv_provenance_free(conv_provenance *p);

/* ---- timeline (convert_trace.c) --------------------------------------------------------------- */

/* With SPARSA_CONVERT_TRACE set: conv_trace_start (at the start of sp_convert) clears the
 * record, conv_trace notes a step's moment from any thread, conv_trace_print prints them. */
void conv_trace_start(void);
void conv_trace(const char *step);
void conv_trace_print(void);

/* ---- BOS (convert_bos.c) ------------------------------------------------------------------------ */

/* 1 or 0 when the Hugging Face files beside SRC say whether BOS goes before the text
 * (add_bos_token), else -1. */
int conv_add_bos(const sp_ckpt *c, const char *src);

#endif
