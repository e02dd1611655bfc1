/* writer_meta.c — metadata, graph and tokenizer of the streaming writer: values are checked
 * (name rule, UTF-8, BOOL 0/1) and serialised little-endian as SPEC.md §4 says. */
#include "writer_internal.h"

#define ARRAY_MAX_STRINGS ((uint64_t)1 << 40)

static int begin_entry(sp_writer *w, const char *key, uint32_t type) {
    if (w->err.code) return w->err.code;
    if (!key || !sp_name_valid((const uint8_t *)key, strlen(key)))
        return sp_writer_fail(w, SP_ERR_INPUT, "metadata key is not 1..4096 bytes of UTF-8");
    int added = sp_nameset_add(&w->keys, key);
    if (added < 0) return sp_writer_fail(w, SP_ERR_RUNTIME, "out of memory");
    if (!added) return sp_writer_fail(w, SP_ERR_INPUT, "duplicate metadata key '%s'", key);
    sp_buf_u32(&w->meta, (uint32_t)strlen(key));
    sp_buf_put(&w->meta, key, strlen(key));
    sp_buf_u32(&w->meta, type);
    w->meta_count++;
    return SP_OK;
}

/* Encodes one host-order scalar of `type` at v (type already known to be a scalar). */
static int put_scalar(sp_writer *w, const char *key, sp_meta_type type, const void *v) {
    uint8_t b[8];
    switch (sp_meta_scalar_size(type)) {
    case 1:
        b[0] = *(const uint8_t *)v;
        if (type == SP_META_BOOL && b[0] > 1)
            return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': bool must be 0 or 1", key);
        break;
    case 2: { uint16_t x; memcpy(&x, v, 2); sp_wr16(b, x); break; }
    case 4: { uint32_t x; memcpy(&x, v, 4); sp_wr32(b, x); break; }
    default: { uint64_t x; memcpy(&x, v, 8); sp_wr64(b, x); break; }
    }
    sp_buf_put(&w->meta, b, sp_meta_scalar_size(type));
    return SP_OK;
}

int sp_writer_meta_scalar(sp_writer *w, const char *key, sp_meta_type type, const void *value) {
    if (w->err.code) return w->err.code;
    if (!sp_meta_scalar_size(type))
        return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': type %d is not a scalar type",
                              key ? key : "", (int)type);
    if (type == SP_META_BOOL && *(const uint8_t *)value > 1)
        return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': bool must be 0 or 1", key);
    if (begin_entry(w, key, type)) return w->err.code;
    return put_scalar(w, key, type, value);
}

int sp_writer_meta_u64(sp_writer *w, const char *key, uint64_t v) {
    return sp_writer_meta_scalar(w, key, SP_META_U64, &v);
}
int sp_writer_meta_i64(sp_writer *w, const char *key, int64_t v) {
    return sp_writer_meta_scalar(w, key, SP_META_I64, &v);
}
int sp_writer_meta_f64(sp_writer *w, const char *key, double v) {
    return sp_writer_meta_scalar(w, key, SP_META_F64, &v);
}
int sp_writer_meta_bool(sp_writer *w, const char *key, int v) {
    uint8_t b = v ? 1 : 0;
    return sp_writer_meta_scalar(w, key, SP_META_BOOL, &b);
}

void sp_writer_meta_clear(sp_writer *w) {
    w->meta.len = 0;
    w->meta_count = 0;
    sp_nameset_free(&w->keys);
}

static int put_blob(sp_writer *w, const void *b, size_t len) {
    sp_buf_u64(&w->meta, len);
    sp_buf_put(&w->meta, b, len);
    return SP_OK;
}

int sp_writer_meta_string(sp_writer *w, const char *key, const char *s, size_t len) {
    if (w->err.code) return w->err.code;
    if ((!s && len) || !sp_utf8_valid((const uint8_t *)s, len))
        return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': string is not valid UTF-8",
                              key ? key : "");
    if (begin_entry(w, key, SP_META_STRING)) return w->err.code;
    return put_blob(w, s, len);
}

int sp_writer_meta_bytes(sp_writer *w, const char *key, const void *b, size_t len) {
    if (w->err.code) return w->err.code;
    if (!b && len) return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': no bytes", key);
    if (begin_entry(w, key, SP_META_BYTES)) return w->err.code;
    return put_blob(w, b, len);
}

int sp_writer_meta_array(sp_writer *w, const char *key, sp_meta_type elem_type,
                         const void *elems, uint64_t count) {
    if (w->err.code) return w->err.code;
    size_t es = sp_meta_scalar_size(elem_type);
    if (!es && elem_type != SP_META_STRING)
        return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': arrays hold scalars or strings",
                              key ? key : "");
    if (count && !elems) return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': no elements", key);
    if (count > ARRAY_MAX_STRINGS)
        return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': too many elements", key);
    for (uint64_t i = 0; i < count; i++) {  /* check everything before writing anything */
        if (elem_type == SP_META_STRING) {
            const char *s = ((const char *const *)elems)[i];
            if (!s || !sp_utf8_valid((const uint8_t *)s, strlen(s)))
                return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': element %llu is not "
                                      "valid UTF-8", key, (unsigned long long)i);
        } else if (elem_type == SP_META_BOOL && ((const uint8_t *)elems)[i] > 1) {
            return sp_writer_fail(w, SP_ERR_INPUT, "metadata '%s': bool must be 0 or 1", key);
        }
    }
    if (begin_entry(w, key, SP_META_ARRAY)) return w->err.code;
    sp_buf_u32(&w->meta, elem_type);
    sp_buf_u64(&w->meta, count);
    for (uint64_t i = 0; i < count; i++) {
        if (elem_type == SP_META_STRING) {
            const char *s = ((const char *const *)elems)[i];
            put_blob(w, s, strlen(s));
        } else {
            put_scalar(w, key, elem_type, (const uint8_t *)elems + i * es);
        }
    }
    if (w->meta.oom) return sp_writer_fail(w, SP_ERR_RUNTIME, "out of memory");
    return SP_OK;
}

static int set_blob(sp_writer *w, sp_buf *b, int *has, const void *d, size_t len) {
    if (w->err.code) return w->err.code;
    b->len = 0;
    sp_buf_put(b, d, len);
    if (b->oom) return sp_writer_fail(w, SP_ERR_RUNTIME, "out of memory");
    *has = 1;
    return SP_OK;
}

int sp_writer_set_graph(sp_writer *w, const char *yaml, size_t len) {
    if (w->err.code) return w->err.code;
    if ((!yaml && len) || (len && memchr(yaml, 0, len)) ||
        !sp_utf8_valid((const uint8_t *)yaml, len))
        return sp_writer_fail(w, SP_ERR_INPUT, "graph is not UTF-8 text without NUL bytes");
    return set_blob(w, &w->graph, &w->has_graph, yaml, len);
}

int sp_writer_set_tokenizer(sp_writer *w, const void *bytes, size_t len) {
    if (!bytes && len) return sp_writer_fail(w, SP_ERR_INPUT, "tokenizer: no bytes");
    return set_blob(w, &w->tok, &w->has_tok, bytes, len);
}
