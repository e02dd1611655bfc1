/* reader_sections.c — parsing and validating the METADATA (SPEC.md §4) and TENSOR_DIRECTORY
 * (§7) sections. Every read is preceded by a check that the bytes are inside the section;
 * every count is bounded by the bytes left before anything is allocated for it. */
#include <stdio.h>

#include <zstd.h>

#include "format_internal.h"

#define FAIL(...) sp_fail(err, SP_ERR_INPUT, __VA_ARGS__)
#define ULL(x) ((unsigned long long)(x))

/* A cursor over one section, in absolute file offsets. */
typedef struct {
    const uint8_t *base;
    uint64_t pos, end;
    const char *what;  /* "metadata", "tensor directory": prefix of messages */
} cursor;

static uint64_t left(const cursor *c) { return c->end - c->pos; }

static int need(const cursor *c, uint64_t n, const char *field, sp_error *err) {
    if (left(c) < n)
        return FAIL("%s %s at offset %llu: needs %llu bytes, the section has %llu left", c->what,
                    field, ULL(c->pos), ULL(n), ULL(left(c)));
    return SP_OK;
}

static uint32_t take32(cursor *c) { uint32_t v = sp_rd32(c->base + c->pos); c->pos += 4; return v; }
static uint64_t take64(cursor *c) { uint64_t v = sp_rd64(c->base + c->pos); c->pos += 8; return v; }

/* A name (key or tensor name): u32 length + bytes, checked against the name rule. */
static int take_name(cursor *c, const char **name, size_t *len, const char *field, sp_error *err) {
    if (need(c, 4, field, err)) return SP_ERR_INPUT;
    uint64_t at = c->pos;
    uint32_t n = take32(c);
    if (n < 1 || n > SP_NAME_MAX)
        return FAIL("%s %s length at offset %llu: %u, must be 1..%u", c->what, field, ULL(at), n,
                    SP_NAME_MAX);
    if (need(c, n, field, err)) return SP_ERR_INPUT;
    const uint8_t *p = c->base + c->pos;
    if (!sp_name_valid(p, n))
        return FAIL("%s %s at offset %llu: not valid UTF-8 or contains NUL", c->what, field,
                    ULL(c->pos));
    *name = (const char *)p;
    *len = n;
    c->pos += n;
    return SP_OK;
}

/* ---- metadata ---- */

/* One STRING/BYTES value: u64 len + bytes (UTF-8 checked for STRING). */
static int take_blob(cursor *c, uint32_t type, const uint8_t **data, uint64_t *len, sp_error *err) {
    if (need(c, 8, "value length", err)) return SP_ERR_INPUT;
    uint64_t at = c->pos, n = take64(c);
    if (n > left(c))
        return FAIL("%s value length at offset %llu: %llu bytes, the section has %llu left",
                    c->what, ULL(at), ULL(n), ULL(left(c)));
    *data = c->base + c->pos;
    if (type == SP_META_STRING && !sp_utf8_valid(*data, (size_t)n))
        return FAIL("%s string value at offset %llu: not valid UTF-8", c->what, ULL(c->pos));
    *len = n;
    c->pos += n;
    return SP_OK;
}

static int take_scalar(cursor *c, uint32_t type, sp_meta *m, sp_error *err) {
    size_t sz = sp_meta_scalar_size(type);
    if (need(c, sz, "value", err)) return SP_ERR_INPUT;
    const uint8_t *p = c->base + c->pos;
    if (type == SP_META_BOOL && p[0] > 1)
        return FAIL("%s bool value at offset %llu: %u, must be 0 or 1", c->what, ULL(c->pos), p[0]);
    sp_meta_decode_scalar(m, type, p);
    c->pos += sz;
    return SP_OK;
}

static int take_array(cursor *c, sp_meta *m, sp_error *err) {
    if (need(c, 12, "array header", err)) return SP_ERR_INPUT;
    uint64_t at = c->pos;
    uint32_t et = take32(c);
    uint64_t count = take64(c);
    if (et < SP_META_U8 || et > SP_META_BYTES)
        return FAIL("%s array element type at offset %llu: %u, must be 1..13", c->what, ULL(at),
                    et);
    size_t es = sp_meta_scalar_size(et);
    uint64_t min = es ? es : 8;  /* a STRING/BYTES element takes at least its u64 length */
    if (count > left(c) / min)
        return FAIL("%s array count at offset %llu: %llu elements cannot fit in the %llu bytes "
                    "left", c->what, ULL(at + 4), ULL(count), ULL(left(c)));
    m->type = SP_META_ARRAY;
    m->elem_type = (sp_meta_type)et;
    m->len = count;
    m->data = c->base + c->pos;
    for (uint64_t i = 0; i < count; i++) {
        sp_meta e;
        int rc;
        if (es) rc = take_scalar(c, et, &e, err);
        else rc = take_blob(c, et, &e.data, &e.len, err);
        if (rc) return rc;
    }
    return SP_OK;
}

static int cmp_meta(const void *a, const void *b) {
    const sp_meta *x = *(const sp_meta *const *)a, *y = *(const sp_meta *const *)b;
    return sp_name_cmp(x->key, x->key_len, y->key, y->key_len);
}

int sp_parse_metadata(sp_file *f, sp_error *err) {
    const sp_section *s = f->sec[SP_SEC_METADATA];
    cursor c = {f->base, s->offset, s->offset + s->size, "metadata"};
    if (need(&c, 8, "count", err)) return SP_ERR_INPUT;
    uint64_t count = take64(&c);
    if (count > left(&c) / SP_META_ENTRY_MIN)
        return FAIL("metadata count at offset %llu: %llu entries cannot fit in the %llu bytes "
                    "left", ULL(s->offset), ULL(count), ULL(left(&c)));
    f->meta = calloc(count ? (size_t)count : 1, sizeof *f->meta);
    f->meta_sorted = calloc(count ? (size_t)count : 1, sizeof *f->meta_sorted);
    if (!f->meta || !f->meta_sorted) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (uint64_t i = 0; i < count; i++) {
        sp_meta *m = &f->meta[i];
        if (take_name(&c, &m->key, &m->key_len, "key", err)) return SP_ERR_INPUT;
        if (need(&c, 4, "type", err)) return SP_ERR_INPUT;
        uint64_t at = c.pos;
        uint32_t type = take32(&c);
        int rc;
        if (type == SP_META_STRING || type == SP_META_BYTES) {
            m->type = (sp_meta_type)type;
            rc = take_blob(&c, type, &m->data, &m->len, err);
        } else if (type == SP_META_ARRAY) {
            rc = take_array(&c, m, err);
        } else if (sp_meta_scalar_size(type)) {
            rc = take_scalar(&c, type, m, err);
        } else {
            rc = FAIL("metadata type at offset %llu: %u, must be 1..14", ULL(at), type);
        }
        if (rc) return rc;
        f->meta_sorted[i] = m;
        f->meta_count = (size_t)i + 1;
    }
    if (left(&c))
        return FAIL("metadata at offset %llu: %llu bytes after the last entry", ULL(c.pos),
                    ULL(left(&c)));
    qsort(f->meta_sorted, f->meta_count, sizeof *f->meta_sorted, cmp_meta);
    for (size_t i = 1; i < f->meta_count; i++)
        if (!cmp_meta(&f->meta_sorted[i - 1], &f->meta_sorted[i])) {
            char q[128];
            const sp_meta *m = f->meta_sorted[i];
            if (f->meta_sorted[i - 1]->key > m->key) m = f->meta_sorted[i - 1];
            sp_name_quote(q, sizeof q, m->key, m->key_len);
            return FAIL("metadata key at offset %llu: duplicate key '%s'",
                        ULL((const uint8_t *)m->key - f->base), q);
        }
    return SP_OK;
}

/* ---- tensor directory ---- */

static int take_tensor(sp_file *f, cursor *c, sp_tensor_info *t, sp_error *err) {
    const sp_section *data = f->sec[SP_SEC_DATA];
    if (take_name(c, &t->name, &t->name_len, "tensor name", err)) return SP_ERR_INPUT;
    char q[96];
    sp_name_quote(q, sizeof q, t->name, t->name_len);
    if (need(c, 8, "dtype/ndim", err)) return SP_ERR_INPUT;
    uint64_t at = c->pos;
    uint32_t dt = take32(c);
    if (!sp_dtype_size((sp_dtype)dt))
        return FAIL("tensor directory dtype of '%s' at offset %llu: unknown dtype %u", q, ULL(at),
                    dt);
    t->dtype = (sp_dtype)dt;
    t->ndim = take32(c);
    if (t->ndim > SP_MAX_DIMS)
        return FAIL("tensor directory ndim of '%s' at offset %llu: %u, must be 0..%d", q,
                    ULL(at + 4), t->ndim, SP_MAX_DIMS);
    if (need(c, 8ull * t->ndim + 24, "dims/compression/crc32/offset/stored_size", err))
        return SP_ERR_INPUT;
    uint64_t dims_at = c->pos;
    for (uint32_t d = 0; d < t->ndim; d++) t->dims[d] = take64(c);
    if (sp_shape_bytes(t->dtype, t->ndim, t->dims, &t->numel, &t->raw_size))
        return FAIL("tensor directory dims of '%s' at offset %llu: the size overflows 2^63 bytes",
                    q, ULL(dims_at));
    at = c->pos;
    uint32_t comp = take32(c);
    t->crc32 = take32(c);
    uint64_t off = take64(c);
    t->stored_size = take64(c);
    if (comp > SP_COMPRESS_ZSTD)
        return FAIL("tensor directory compression of '%s' at offset %llu: %u, must be 0 (none) "
                    "or 1 (zstd)", q, ULL(at), comp);
    t->compression = (sp_compression)comp;
    if (comp == SP_COMPRESS_NONE && t->stored_size != t->raw_size)
        return FAIL("tensor directory stored_size of '%s' at offset %llu: %llu, the shape and "
                    "dtype give %llu", q, ULL(at + 16), ULL(t->stored_size), ULL(t->raw_size));
    uint64_t end;
    if (off % f->alignment)
        return FAIL("tensor directory offset of '%s' at offset %llu: %llu is not a multiple of "
                    "the alignment %u", q, ULL(at + 8), ULL(off), f->alignment);
    if (sp_add_ovf(off, t->stored_size, &end) || end > data->size)
        return FAIL("tensor directory offset of '%s' at offset %llu: [%llu, +%llu) lies outside "
                    "TENSOR_DATA (%llu bytes)", q, ULL(at + 8), ULL(off), ULL(t->stored_size),
                    ULL(data->size));
    t->offset = data->offset + off;
    if (comp == SP_COMPRESS_ZSTD) {
        if (t->raw_size == 0)
            return FAIL("tensor directory compression of '%s' at offset %llu: an empty tensor "
                        "must not be compressed", q, ULL(at));
        unsigned long long fcs = ZSTD_getFrameContentSize(f->base + t->offset, t->stored_size);
        if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN)
            return FAIL("tensor data of '%s' at offset %llu: not a zstd frame with a declared "
                        "content size", q, ULL(t->offset));
        if (fcs != t->raw_size)
            return FAIL("tensor data of '%s' at offset %llu: the zstd frame declares %llu bytes, "
                        "the shape and dtype give %llu", q, ULL(t->offset), fcs,
                        ULL(t->raw_size));
    }
    return SP_OK;
}

static int cmp_name(const void *a, const void *b) {
    const sp_tensor_info *x = *(const sp_tensor_info *const *)a;
    const sp_tensor_info *y = *(const sp_tensor_info *const *)b;
    return sp_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

static int cmp_offset(const void *a, const void *b) {
    const sp_tensor_info *x = *(const sp_tensor_info *const *)a;
    const sp_tensor_info *y = *(const sp_tensor_info *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int sp_parse_directory(sp_file *f, sp_error *err) {
    const sp_section *s = f->sec[SP_SEC_DIRECTORY];
    cursor c = {f->base, s->offset, s->offset + s->size, "tensor directory"};
    if (need(&c, 8, "count", err)) return SP_ERR_INPUT;
    uint64_t count = take64(&c);
    if (count > left(&c) / SP_TENSOR_ENTRY_MIN)
        return FAIL("tensor directory count at offset %llu: %llu entries cannot fit in the %llu "
                    "bytes left", ULL(s->offset), ULL(count), ULL(left(&c)));
    size_t n = count ? (size_t)count : 1;
    f->tensors = calloc(n, sizeof *f->tensors);
    f->tensor_sorted = calloc(n, sizeof *f->tensor_sorted);
    f->decompressed = calloc(n, sizeof *f->decompressed);
    f->verified = calloc(n, sizeof *f->verified);
    if (!f->tensors || !f->tensor_sorted || !f->decompressed || !f->verified)
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (uint64_t i = 0; i < count; i++) {
        if (take_tensor(f, &c, &f->tensors[i], err)) return SP_ERR_INPUT;
        f->tensor_sorted[i] = &f->tensors[i];
        f->tensor_count = (size_t)i + 1;
    }
    if (left(&c))
        return FAIL("tensor directory at offset %llu: %llu bytes after the last entry", ULL(c.pos),
                    ULL(left(&c)));
    size_t nt = f->tensor_count;
    /* Overlaps: sort by offset, compare neighbours (empty ranges overlap nothing). */
    qsort(f->tensor_sorted, nt, sizeof *f->tensor_sorted, cmp_offset);
    const sp_tensor_info *prev = NULL;
    for (size_t i = 0; i < nt; i++) {
        const sp_tensor_info *t = f->tensor_sorted[i];
        if (!t->stored_size) continue;
        if (prev && prev->offset + prev->stored_size > t->offset) {
            char q1[96], q2[96];
            sp_name_quote(q1, sizeof q1, t->name, t->name_len);
            sp_name_quote(q2, sizeof q2, prev->name, prev->name_len);
            return FAIL("tensor directory entry of '%s' at offset %llu: data [%llu, +%llu) "
                        "overlaps tensor '%s'", q1,
                        ULL((const uint8_t *)t->name - f->base - 4), ULL(t->offset),
                        ULL(t->stored_size), q2);
        }
        prev = t;
    }
    /* TENSOR_DATA ends where its last tensor ends: its size field is covered by no CRC, so
     * this is what makes a damaged one detectable. */
    const sp_section *data = f->sec[SP_SEC_DATA];
    uint64_t data_end = 0;
    for (size_t i = 0; i < nt; i++) {
        uint64_t e = f->tensors[i].offset - data->offset + f->tensors[i].stored_size;
        if (e > data_end) data_end = e;
    }
    if (data_end != data->size)
        return FAIL("section TENSOR_DATA size at offset %llu: %llu bytes, but its tensors end "
                    "at %llu", ULL(data->entry_offset + 16), ULL(data->size), ULL(data_end));
    qsort(f->tensor_sorted, nt, sizeof *f->tensor_sorted, cmp_name);
    for (size_t i = 1; i < nt; i++)
        if (!cmp_name(&f->tensor_sorted[i - 1], &f->tensor_sorted[i])) {
            const sp_tensor_info *t = f->tensor_sorted[i];
            if (f->tensor_sorted[i - 1]->name > t->name) t = f->tensor_sorted[i - 1];
            char q[96];
            sp_name_quote(q, sizeof q, t->name, t->name_len);
            return FAIL("tensor directory name at offset %llu: duplicate tensor name '%s'",
                        ULL((const uint8_t *)t->name - f->base), q);
        }
    return SP_OK;
}
