/* safetensors.c — strict safetensors header validation: header length capped and inside the
 * file, valid JSON object, known dtypes, sizes that match shapes (overflow-checked), and data
 * ranges that tile the data area exactly (no holes, no overlaps). Data need not be aligned. */
#include <stdlib.h>
#include <string.h>

#include "safetensors_reader.h"

void sp_safetensors_free(sp_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->count; i++) free(st->tensors[i].name);
    free(st->tensors);
    sp_json_free(st->header);
    free(st);
}

static sp_dtype st_dtype(const char *s) {
    static const struct {
        const char *name;
        sp_dtype dtype;
    } tab[] = {
        {.name = "F32", .dtype = SP_F32}, {.name = "F16", .dtype = SP_F16}, {.name = "BF16", .dtype = SP_BF16},
        {.name = "F64", .dtype = SP_F64}, {.name = "I8", .dtype = SP_I8},   {.name = "U8", .dtype = SP_U8},
        {.name = "I16", .dtype = SP_I16}, {.name = "I32", .dtype = SP_I32}, {.name = "I64", .dtype = SP_I64},
        {.name = "BOOL", .dtype = SP_BOOL},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(s, tab[i].name)) return tab[i].dtype;
    return SP_DT_INVALID;
}

static int cmp_off(const void *a, const void *b) {
    const sp_st_tensor *x = *(sp_st_tensor *const *)a, *y = *(sp_st_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->size < y->size ? -1 : x->size > y->size;
}

static int nonneg_int(const sp_json *j, uint64_t *v) {
    if (!j || j->type != SP_JSON_NUMBER || !j->is_integer || j->integer < 0) return 0;
    *v = (uint64_t)j->integer;
    return 1;
}

/* The 8-byte header length: capped, inside the file, and what follows starts a JSON object. */
static int header_length(const uint8_t *d, uint64_t size, uint64_t *hlen, sp_error *err) {
    if (size < 8) return sp_fail(err, SP_ERR_INPUT, "safetensors: file too small (%llu bytes)", (unsigned long long)size);
    *hlen = 0;
    for (int i = 7; i >= 0; i--) *hlen = *hlen << 8 | d[i];
    if (*hlen > SP_SAFETENSORS_MAX_HEADER)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: header length %llu exceeds the %u-byte cap",
                       (unsigned long long)*hlen, SP_SAFETENSORS_MAX_HEADER);
    if (*hlen > size - 8)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: header length %llu runs past the end of the %llu-byte file (truncated?)",
                       (unsigned long long)*hlen, (unsigned long long)size);
    if (*hlen < 2 || d[8] != '{')
        return sp_fail(err, SP_ERR_INPUT, "safetensors: header at offset 8 is not a JSON object");
    return 0;
}

/* __metadata__: an object of strings. */
static int check_metadata(const sp_json *e, sp_error *err) {
    if (e->type != SP_JSON_OBJECT) return sp_fail(err, SP_ERR_INPUT, "safetensors: __metadata__ is not an object");
    for (size_t k = 0; k < e->len; k++)
        if (e->items[k]->type != SP_JSON_STRING)
            return sp_fail(err, SP_ERR_INPUT, "safetensors: __metadata__ value '%.100s' is not a string", e->keys[k]);
    return 0;
}

/* The shape of t from the JSON array; *numel, overflow-checked against the element size. */
static int read_shape(const char *name, const sp_json *shape, sp_st_tensor *t, uint64_t *numel, sp_error *err) {
    if (shape->type != SP_JSON_ARRAY || shape->len > SP_MAX_DIMS)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s': shape must be an array of at most 8 sizes", name);
    int overflow = 0;
    *numel = 1;
    t->ndim = (uint32_t)shape->len;
    for (size_t k = 0; k < shape->len; k++) {
        uint64_t dim;
        if (!nonneg_int(shape->items[k], &dim))
            return sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s' has a bad shape entry", name);
        t->shape[k] = dim;
        if (dim && *numel > UINT64_MAX / dim) overflow = 1;
        else *numel *= dim;
    }
    if (overflow || *numel > UINT64_MAX / sp_dtype_size(t->dtype))
        return sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s': shape overflows 64 bits", name);
    return 0;
}

/* One tensor entry: exactly dtype, shape and data_offsets, with a byte range inside the data
 * area whose length matches the shape. */
static int read_entry(const char *name, const sp_json *e, uint64_t data_start, uint64_t data_len, sp_st_tensor *t,
                      sp_error *err) {
    const sp_json *dt = sp_json_get(e, "dtype"), *shape = sp_json_get(e, "shape"), *offs = sp_json_get(e, "data_offsets");
    if (e->type != SP_JSON_OBJECT || !dt || !shape || !offs || e->len != 3)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s' needs exactly dtype, shape and data_offsets", name);
    if (dt->type != SP_JSON_STRING || (t->dtype = st_dtype(dt->str)) == SP_DT_INVALID)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s' has unsupported dtype %.40s", name,
                       dt->type == SP_JSON_STRING ? dt->str : "(not a string)");
    uint64_t numel = 0, a, b, esz = sp_dtype_size(t->dtype);
    int rc = read_shape(name, shape, t, &numel, err);
    if (rc) return rc;
    if (offs->type != SP_JSON_ARRAY || offs->len != 2 || !nonneg_int(offs->items[0], &a) ||
        !nonneg_int(offs->items[1], &b) || b < a)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s': data_offsets must be [begin, end] with begin <= end", name);
    if (b > data_len)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s' claims bytes [%llu, %llu) but the data area has %llu bytes",
                       name, (unsigned long long)a, (unsigned long long)b, (unsigned long long)data_len);
    if (b - a != numel * esz)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s': %llu bytes for a shape that needs %llu", name,
                       (unsigned long long)(b - a), (unsigned long long)(numel * esz));
    t->name = strdup(name);
    if (!t->name) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    t->offset = data_start + a;
    t->size = b - a;
    return 0;
}

/* The tensors' byte ranges tile [data_start, size) exactly: no overlap, no hole, no tail. */
static int check_tiling(sp_st_tensor **order, size_t count, uint64_t data_start, uint64_t size, sp_error *err) {
    qsort(order, count, sizeof *order, cmp_off);
    uint64_t pos = data_start;
    for (size_t i = 0; i < count; i++) {
        if (order[i]->offset < pos)
            return sp_fail(err, SP_ERR_INPUT, "safetensors: tensors '%.200s' and '%.200s' overlap", order[i - 1]->name,
                           order[i]->name);
        if (order[i]->offset > pos)
            return sp_fail(err, SP_ERR_INPUT, "safetensors: %llu-byte hole before tensor '%.200s'",
                           (unsigned long long)(order[i]->offset - pos), order[i]->name);
        pos = order[i]->offset + order[i]->size;
    }
    if (pos != size)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: %llu bytes after the last tensor are not described by the header",
                       (unsigned long long)(size - pos));
    return 0;
}

int sp_safetensors_parse(const uint8_t *d, uint64_t size, sp_safetensors **out, sp_error *err) {
    *out = NULL;
    uint64_t hlen = 0;
    int rc = header_length(d, size, &hlen, err);
    if (rc) return rc;
    sp_safetensors *st = calloc(1, sizeof *st);
    if (!st) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    sp_error jerr = {0};
    if (sp_json_parse((const char *)d + 8, (size_t)hlen, &st->header, &jerr)) {
        sp_safetensors_free(st);
        return sp_fail(err, jerr.code, "safetensors header: %s", jerr.msg);
    }
    const sp_json *h = st->header;
    if (h->type != SP_JSON_OBJECT) {
        sp_safetensors_free(st);
        return sp_fail(err, SP_ERR_INPUT, "safetensors: header is not a JSON object");
    }
    uint64_t data_start = 8 + hlen, data_len = size - data_start;
    st->tensors = calloc(h->len ? h->len : 1, sizeof *st->tensors);
    sp_st_tensor **order = calloc(h->len ? h->len : 1, sizeof *order);
    if (!st->tensors || !order) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < h->len && !rc; i++) {
        if (!strcmp(h->keys[i], "__metadata__")) {
            rc = check_metadata(h->items[i], err);
            continue;
        }
        sp_st_tensor *t = &st->tensors[st->count];
        rc = read_entry(h->keys[i], h->items[i], data_start, data_len, t, err);
        if (!rc) order[st->count++] = t;
    }
    if (!rc) rc = check_tiling(order, st->count, data_start, size, err);
    free(order);
    if (rc) {
        sp_safetensors_free(st);
        return rc;
    }
    *out = st;
    return 0;
}
