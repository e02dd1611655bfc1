/* metadata.c — decoding typed metadata values (SPEC.md §4) and walking ARRAY values.
 * Everything here reads data the reader has already validated at open. */
#include "format_internal.h"

static const char *const type_names[] = {
    "invalid", "u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64",
    "f32", "f64", "bool", "string", "bytes", "array",
};

const char *sp_meta_type_name(sp_meta_type t) {
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "invalid";
}

size_t sp_meta_scalar_size(uint32_t type) {
    switch (type) {
    case SP_META_U8: case SP_META_I8: case SP_META_BOOL: return 1;
    case SP_META_U16: case SP_META_I16: return 2;
    case SP_META_U32: case SP_META_I32: case SP_META_F32: return 4;
    case SP_META_U64: case SP_META_I64: case SP_META_F64: return 8;
    default: return 0;
    }
}

void sp_meta_decode_scalar(sp_meta *m, uint32_t type, const uint8_t *p) {
    m->type = (sp_meta_type)type;
    m->data = p;
    m->len = sp_meta_scalar_size(type);
    switch (type) {
    case SP_META_U8: case SP_META_BOOL: m->num.u = p[0]; break;
    case SP_META_U16: m->num.u = sp_rd16(p); break;
    case SP_META_U32: m->num.u = sp_rd32(p); break;
    case SP_META_U64: m->num.u = sp_rd64(p); break;
    case SP_META_I8: m->num.i = (int8_t)p[0]; break;
    case SP_META_I16: m->num.i = (int16_t)sp_rd16(p); break;
    case SP_META_I32: m->num.i = (int32_t)sp_rd32(p); break;
    case SP_META_I64: m->num.i = (int64_t)sp_rd64(p); break;
    case SP_META_F32: {
        uint32_t u = sp_rd32(p);
        float f;
        memcpy(&f, &u, 4);
        m->num.f = f;
        break;
    }
    case SP_META_F64: {
        uint64_t u = sp_rd64(p);
        memcpy(&m->num.f, &u, 8);
        break;
    }
    default: break;
    }
}

/* Decodes one element at p; returns its encoded size. */
static uint64_t decode_elem(sp_meta_type t, const uint8_t *p, sp_meta *e) {
    memset(e, 0, sizeof *e);
    if (t == SP_META_STRING || t == SP_META_BYTES) {
        e->type = t;
        e->len = sp_rd64(p);
        e->data = p + 8;
        return 8 + e->len;
    }
    sp_meta_decode_scalar(e, t, p);
    return sp_meta_scalar_size(t);
}

void sp_meta_iter_init(sp_meta_iter *it, const sp_meta *array) {
    it->array = array;
    it->index = 0;
    it->pos = 0;
}

int sp_meta_iter_next(sp_meta_iter *it, sp_meta *elem) {
    const sp_meta *a = it->array;
    if (!a || a->type != SP_META_ARRAY || it->index >= a->len) return 0;
    it->pos += decode_elem(a->elem_type, a->data + it->pos, elem);
    it->index++;
    return 1;
}

int sp_meta_array_get(const sp_meta *m, uint64_t i, sp_meta *elem) {
    if (!m || m->type != SP_META_ARRAY || i >= m->len) return SP_ERR_INPUT;
    size_t es = sp_meta_scalar_size(m->elem_type);
    if (es) {
        decode_elem(m->elem_type, m->data + i * es, elem);
        return SP_OK;
    }
    sp_meta_iter it;
    sp_meta_iter_init(&it, m);
    for (uint64_t k = 0; k <= i; k++) sp_meta_iter_next(&it, elem);
    return SP_OK;
}
