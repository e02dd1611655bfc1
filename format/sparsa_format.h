/* sparsa_format.h — the sparsa model file: read, validate, write (format/SPEC.md).
 *
 * Contract:
 *  - Every function that can fail returns an sp_status code (0 = ok) and, on failure, fills the
 *    caller's sp_error with one line that names the field and file offset at fault.
 *  - The reader memory-maps the file and validates the header, section table, metadata,
 *    graph/tokenizer checksums and the whole tensor directory in sp_file_open, before any
 *    allocation sized by the file. Nothing in an open sp_file can point outside the mapping.
 *  - Uncompressed tensors are returned zero-copy (pointers into the mapping, aligned to the
 *    file's alignment). zstd tensors are decompressed into a buffer owned by the sp_file.
 *    Tensor data is trusted only once checked: each tensor's bytes are compared with its
 *    CRC-32 the first time they are handed out (opening reads none of them).
 *  - The writer streams tensor data to a temporary file next to the output and renames it on
 *    sp_writer_finish; sp_writer_abort (or any failure) removes the temporary file.
 *
 * It stands on common/ (errors, UTF-8, overflow checks, the cleanup registry) and zstd, and on
 * nothing else of sparsa.
 */
#ifndef SPARSA_FORMAT_H
#define SPARSA_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions, dtypes ------------------------------------------------------------------- */

#define SP_FORMAT_MAJOR 1
#define SP_FORMAT_MINOR 0
#define SP_MAX_DIMS 8
#define SP_DEFAULT_ALIGNMENT 64

typedef enum {
    SP_DT_INVALID = 0,
    SP_F32 = 1, SP_F16 = 2, SP_BF16 = 3, SP_F64 = 4,
    SP_I8 = 5, SP_U8 = 6, SP_I16 = 7, SP_I32 = 8, SP_I64 = 9, SP_BOOL = 10
} sp_dtype;

size_t sp_dtype_size(sp_dtype dt);        /* 0 for an invalid dtype */
const char *sp_dtype_name(sp_dtype dt);   /* "f32", "bf16", ...; "invalid" */
sp_dtype sp_dtype_from_name(const char *name); /* SP_DT_INVALID if unknown */

typedef enum { SP_COMPRESS_NONE = 0, SP_COMPRESS_ZSTD = 1 } sp_compression;

/* CRC-32 (ISO-HDLC, zlib's crc32). Pass 0 as crc to start; chain to continue. */
uint32_t sp_crc32(uint32_t crc, const void *data, size_t len);

/* IEEE half / bfloat16 conversions (round to nearest even on the way down). */
float sp_f16_to_f32(uint16_t h);
float sp_bf16_to_f32(uint16_t b);
uint16_t sp_f32_to_f16(float f);
uint16_t sp_f32_to_bf16(float f);

/* ---- metadata --------------------------------------------------------------------------- */

typedef enum {
    SP_META_U8 = 1, SP_META_I8 = 2, SP_META_U16 = 3, SP_META_I16 = 4, SP_META_U32 = 5,
    SP_META_I32 = 6, SP_META_U64 = 7, SP_META_I64 = 8, SP_META_F32 = 9, SP_META_F64 = 10,
    SP_META_BOOL = 11, SP_META_STRING = 12, SP_META_BYTES = 13, SP_META_ARRAY = 14
} sp_meta_type;

/* One metadata value as read. Strings and bytes point into the mapping (not NUL-terminated).
 * For ARRAY, elem_type and count are set and `data` points at the encoded elements; use
 * sp_meta_array_* to read them. */
typedef struct sp_meta {
    const char *key;
    size_t key_len;
    sp_meta_type type;
    union {
        uint64_t u;   /* U8..U64, BOOL */
        int64_t i;    /* I8..I64 */
        double f;     /* F32, F64 */
    } num;
    const uint8_t *data;  /* STRING, BYTES, ARRAY */
    uint64_t len;         /* bytes of STRING/BYTES; element count of ARRAY */
    sp_meta_type elem_type;
} sp_meta;

/* For scalars, `data` also points at the encoded little-endian value (`len` = its size), so
 * an F32 can be read back bit for bit. */
const char *sp_meta_type_name(sp_meta_type t);   /* "u8", ..., "string", "array"; "invalid" */

/* Element i of an ARRAY value (elem->key is NULL, elem->type = the element type). O(1) for
 * scalar elements, O(i) for STRING/BYTES elements (walk those with sp_meta_iter).
 * SP_ERR_INPUT if m is not an array or i >= m->len. */
int sp_meta_array_get(const sp_meta *m, uint64_t i, sp_meta *elem);

typedef struct sp_meta_iter {
    const sp_meta *array;
    uint64_t index, pos;
} sp_meta_iter;
void sp_meta_iter_init(sp_meta_iter *it, const sp_meta *array);
int sp_meta_iter_next(sp_meta_iter *it, sp_meta *elem);  /* 1: elem filled; 0: no more */

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct sp_tensor_info {
    const char *name;      /* points into the mapping, not NUL-terminated */
    size_t name_len;
    sp_dtype dtype;
    uint32_t ndim;
    uint64_t dims[SP_MAX_DIMS];
    uint64_t numel;
    sp_compression compression;
    uint32_t crc32;
    uint64_t offset;       /* absolute file offset of the stored bytes */
    uint64_t stored_size;
    uint64_t raw_size;
} sp_tensor_info;

typedef struct sp_file sp_file;

/* How a file is opened; all-zero (or a NULL pointer) is the default. */
typedef struct sp_file_options {
    /* 1: hand out uncompressed tensors without checking their CRC-32 at first use (the
     * behaviour of `--no-verify`). zstd tensors are checked when decompressed either way. */
    int no_verify;
} sp_file_options;

int sp_file_open(const char *path, sp_file **out, sp_error *err);  /* default options */
int sp_file_open_opts(const char *path, const sp_file_options *opts, sp_file **out,
                      sp_error *err);
/* Validates an in-memory image (used by the fuzzer and tests); the buffer must outlive the file. */
int sp_file_open_memory(const void *data, size_t size, sp_file **out, sp_error *err);
void sp_file_close(sp_file *f);

uint16_t sp_file_major(const sp_file *f);
uint16_t sp_file_minor(const sp_file *f);
uint32_t sp_file_alignment(const sp_file *f);
uint64_t sp_file_size(const sp_file *f);

size_t sp_file_meta_count(const sp_file *f);
const sp_meta *sp_file_meta(const sp_file *f, size_t i);
const sp_meta *sp_file_meta_find(const sp_file *f, const char *key);

/* Graph YAML and tokenizer bytes; NULL with *len = 0 when the section is absent. */
const char *sp_file_graph(const sp_file *f, size_t *len);
const void *sp_file_tokenizer(const sp_file *f, size_t *len);

size_t sp_file_tensor_count(const sp_file *f);
const sp_tensor_info *sp_file_tensor(const sp_file *f, size_t i);
const sp_tensor_info *sp_file_find_tensor(const sp_file *f, const char *name);

/* The tensor's raw (uncompressed) bytes: zero-copy for uncompressed tensors; decompressed
 * into a buffer owned by f for zstd ones, once, on first use. The stored bytes are checked
 * against the tensor's CRC-32 the first time they are handed out (for uncompressed tensors
 * unless the file was opened with no_verify): a mismatch is SP_ERR_INPUT, "tensor 'x':
 * checksum mismatch (stored 0x..., computed 0x...) ...", and is reported again on every later
 * call. Safe to call from several threads at once. The file must not be truncated by another
 * process while mapped (reads would fault). */
int sp_file_tensor_data(sp_file *f, const sp_tensor_info *t, const void **data, sp_error *err);

/* Checks one tensor's / every tensor's stored bytes against its CRC-32; a zstd tensor's frame
 * is also decoded (through a small window, nothing sized by the tensor is allocated) and must
 * give exactly its raw size. */
int sp_file_verify_tensor(const sp_file *f, const sp_tensor_info *t, sp_error *err);
int sp_file_verify(const sp_file *f, sp_error *err);

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct sp_writer sp_writer;

/* Creates path's temporary sibling. Fails with SP_ERR_INPUT if path exists and !overwrite. */
int sp_writer_create(const char *path, int overwrite, sp_error *err, sp_writer **out);

/* Metadata, graph and tokenizer may be set at any time before finish. */
int sp_writer_meta_u64(sp_writer *w, const char *key, uint64_t v);
int sp_writer_meta_i64(sp_writer *w, const char *key, int64_t v);
int sp_writer_meta_f64(sp_writer *w, const char *key, double v);
int sp_writer_meta_bool(sp_writer *w, const char *key, int v);
int sp_writer_meta_string(sp_writer *w, const char *key, const char *s, size_t len);
int sp_writer_meta_bytes(sp_writer *w, const char *key, const void *b, size_t len);
/* Scalar of any type (SP_META_U8..SP_META_F64, BOOL): value points at one element in host order. */
int sp_writer_meta_scalar(sp_writer *w, const char *key, sp_meta_type type, const void *value);
/* Array of scalars (elements packed in host order) or of strings (elems = const char *[count]). */
int sp_writer_meta_array(sp_writer *w, const char *key, sp_meta_type elem_type,
                         const void *elems, uint64_t count);
int sp_writer_set_graph(sp_writer *w, const char *yaml, size_t len);
int sp_writer_set_tokenizer(sp_writer *w, const void *bytes, size_t len);

/* Streams one tensor: begin, any number of data calls totalling the raw size, end.
 * zstd_level is used when compression is SP_COMPRESS_ZSTD (0 = zstd's default). */
int sp_writer_begin_tensor(sp_writer *w, const char *name, sp_dtype dtype, uint32_t ndim,
                           const uint64_t *dims, sp_compression compression, int zstd_level);
int sp_writer_tensor_data(sp_writer *w, const void *data, size_t len);
int sp_writer_end_tensor(sp_writer *w);
/* begin + data + end in one call. */
int sp_writer_add_tensor(sp_writer *w, const char *name, sp_dtype dtype, uint32_t ndim,
                         const uint64_t *dims, const void *data, sp_compression compression,
                         int zstd_level);

/* Writes the small sections and the table, fsyncs, renames over path, frees w. */
int sp_writer_finish(sp_writer *w, sp_error *err);
/* As sp_writer_finish, but once the whole file is written and before it is made durable and
 * renamed into place, check(temp_path, ctx, err) may read it back; a non-zero return discards
 * the file and is returned, with *err as check set it. The check overlaps the disk writeback. */
typedef int (*sp_writer_check_fn)(const char *temp_path, void *ctx, sp_error *err);
int sp_writer_finish_checked(sp_writer *w, sp_writer_check_fn check, void *ctx, sp_error *err);
/* Writes the whole temporary file as finish would, runs check on it as finish_checked does,
 * and flushes it to disk, but neither renames nor frees it: tensors can no longer be added,
 * metadata can be replaced (sp_writer_meta_clear, then the meta calls again), and finish then
 * writes the small sections again in place of the draft's, after the tensor bytes, which stay
 * as they are. So a slow last value (a hash of the inputs) need not hold up the check. On
 * failure w keeps the error: sp_writer_abort it. */
int sp_writer_draft_checked(sp_writer *w, sp_writer_check_fn check, void *ctx, sp_error *err);
/* Forgets every metadata entry set so far. */
void sp_writer_meta_clear(sp_writer *w);
/* Removes the temporary file and frees w. */
void sp_writer_abort(sp_writer *w);
/* The first error the writer met (the tensor/meta calls return its code). */
const sp_error *sp_writer_error(const sp_writer *w);

#ifdef __cplusplus
}
#endif
#endif
