/* format_internal.h — private to format/: little-endian access, the layout constants of
 * SPEC.md, the growable byte buffer the writer serialises into, and struct sp_file. */
#ifndef SPARSA_FORMAT_INTERNAL_H
#define SPARSA_FORMAT_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_format.h"

/* Tensor data is handed out zero-copy as stored (little-endian): a big-endian host would
 * need a byte-swapping path this library does not have. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sparsa's format library needs a little-endian host"
#endif

/* ---- layout (SPEC.md §2, §3) ---- */
#define SP_MAGIC "\x89SPARSA\n"
#define SP_HEADER_SIZE 64u
#define SP_HEADER_MAX 4096u
#define SP_BYTE_ORDER_MARK 0x01020304u
#define SP_ALIGN_MIN 64u
#define SP_ALIGN_MAX (1u << 20)
#define SP_SECTION_ENTRY 32u
#define SP_SECTION_MAX 64u
#define SP_NAME_MAX 4096u
#define SP_SECTION_REQUIRED 1u

enum { SP_SEC_METADATA = 1, SP_SEC_GRAPH = 2, SP_SEC_TOKENIZER = 3, SP_SEC_DIRECTORY = 4,
       SP_SEC_DATA = 5, SP_SEC_KNOWN_MAX = 5 };

/* Smallest encodings, used to bound counts by the bytes present before allocating. */
#define SP_META_ENTRY_MIN (4u + 1u + 4u + 1u)               /* key_len, key, type, u8 value */
#define SP_TENSOR_ENTRY_MIN (4u + 1u + 4u + 4u + 4u + 4u + 8u + 8u)

/* ---- little-endian loads/stores: explicit bytes, independent of the host ---- */
static inline uint16_t sp_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t sp_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t sp_rd64(const uint8_t *p) {
    return (uint64_t)sp_rd32(p) | ((uint64_t)sp_rd32(p + 4) << 32);
}
static inline void sp_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void sp_wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void sp_wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* CRC comparisons. A fuzzing build (fuzz/run.sh) ignores mismatches so mutated inputs reach
 * the parsers behind the checksums; every other check stays. Never defined in a real build. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define SP_CRC_BAD(stored, computed) ((void)(stored), (void)(computed), 0)
#else
#define SP_CRC_BAD(stored, computed) ((stored) != (computed))
#endif

/* Name rule of SPEC.md (keys and tensor names): 1..4096 bytes, valid UTF-8, no NUL. */
int sp_name_valid(const uint8_t *s, size_t len);

/* Element count and byte size of a shape (SPEC.md §7); 1 when the rule is broken. */
int sp_shape_bytes(sp_dtype dt, uint32_t ndim, const uint64_t *dims, uint64_t *numel,
                   uint64_t *bytes);

/* Element size of a metadata scalar type; 0 for STRING, BYTES, ARRAY and unknown types. */
size_t sp_meta_scalar_size(uint32_t type);
/* Decodes a scalar of `type` at p (size checked by the caller) into m->num / m->data. */
void sp_meta_decode_scalar(sp_meta *m, uint32_t type, const uint8_t *p);

/* ---- the writer's serialisation buffer: common's string builder (it holds any bytes; out of
 * memory is sticky, checked once before the sections are written) ---- */
typedef sp_strbuf sp_buf;

void sp_buf_put(sp_buf *b, const void *d, size_t n);
void sp_buf_u32(sp_buf *b, uint32_t v);  /* little-endian */
void sp_buf_u64(sp_buf *b, uint64_t v);
static inline void sp_buf_free(sp_buf *b) { sp_sb_free(b); }

/* ---- an open file ---- */
typedef struct sp_section {
    uint32_t kind, flags, crc32;
    uint64_t offset, size;
    uint64_t entry_offset;  /* where the table entry is, for messages */
} sp_section;

struct sp_file {
    const uint8_t *base;
    uint64_t size;
    int mapped;              /* base is an mmap of the file (unmap on close) */
    uint16_t major, minor;
    uint32_t alignment, header_size;
    const sp_section *sec[SP_SEC_KNOWN_MAX + 1];  /* by kind; NULL if absent */
    sp_section sections[SP_SECTION_MAX];
    size_t section_count;

    sp_meta *meta;
    size_t meta_count;
    const sp_meta **meta_sorted;  /* by key, for lookup */

    sp_tensor_info *tensors;
    size_t tensor_count;
    const sp_tensor_info **tensor_sorted;  /* by name, for lookup */
    /* Per tensor, set once by whichever thread gets there first (sp_file_tensor_data may be
     * called from several): the decompressed buffer owned by the file (zstd), and whether the
     * stored bytes were found to match their CRC-32. */
    _Atomic(void *) *decompressed;
    atomic_uchar *verified;
    int verify_on_use;       /* check an uncompressed tensor's CRC-32 when first handed out */
};

/* reader_sections.c: parse and validate METADATA and TENSOR_DIRECTORY of f. */
int sp_parse_metadata(sp_file *f, sp_error *err);
int sp_parse_directory(sp_file *f, sp_error *err);

/* Writes a name for messages: control characters, quote and backslash as \xNN, cut with
 * "..." to fit cap (cap >= 8). */
void sp_name_quote(char *dst, size_t cap, const char *s, size_t len);

/* Compares a (ptr,len) name with another; bytewise, shorter first on a tie. */
int sp_name_cmp(const char *a, size_t alen, const char *b, size_t blen);

#endif
