/* safetensors.c — strict safetensors header validation: header length capped and inside the
 * file, valid JSON object, known dtypes, sizes that match shapes (overflow-checked), and data
 * ranges that tile the data area exactly (no holes, no overlaps). Data need not be aligned. */
#include <stdlib.h>
#include <string.h>

#include "sparsa_convert.h"

void sp_safetensors_free(sp_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->count; i++) free(st->tensors[i].name);
    free(st->tensors);
    sp_json_free(st->header);
    free(st);
}

static sp_dtype st_dtype(const char *s) {
    static const struct { const char *n; sp_dtype t; } tab[] = {
        {"F32", SP_F32}, {"F16", SP_F16}, {"BF16", SP_BF16}, {"F64", SP_F64}, {"I8", SP_I8},
        {"U8", SP_U8}, {"I16", SP_I16}, {"I32", SP_I32}, {"I64", SP_I64}, {"BOOL", SP_BOOL}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(s, tab[i].n)) return tab[i].t;
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

int sp_safetensors_parse(const uint8_t *d, uint64_t size, sp_safetensors **out, sp_error *err) {
    *out = NULL;
    if (size < 8) return sp_fail(err, SP_ERR_INPUT, "safetensors: file too small (%llu bytes)", (unsigned long long)size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | d[i];
    if (hlen > SP_SAFETENSORS_MAX_HEADER)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: header length %llu exceeds the %u-byte cap",
                       (unsigned long long)hlen, SP_SAFETENSORS_MAX_HEADER);
    if (hlen > size - 8)
        return sp_fail(err, SP_ERR_INPUT, "safetensors: header length %llu runs past the end of the %llu-byte file (truncated?)",
                       (unsigned long long)hlen, (unsigned long long)size);
    if (hlen < 2 || d[8] != '{')
        return sp_fail(err, SP_ERR_INPUT, "safetensors: header at offset 8 is not a JSON object");
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
    int rc = 0;
    if (!st->tensors || !order) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < h->len && !rc; i++) {
        const char *name = h->keys[i];
        const sp_json *e = h->items[i];
        if (!strcmp(name, "__metadata__")) {
            if (e->type != SP_JSON_OBJECT) { rc = sp_fail(err, SP_ERR_INPUT, "safetensors: __metadata__ is not an object"); break; }
            for (size_t k = 0; k < e->len; k++)
                if (e->items[k]->type != SP_JSON_STRING) {
                    rc = sp_fail(err, SP_ERR_INPUT, "safetensors: __metadata__ value '%.100s' is not a string", e->keys[k]);
                    break;
                }
            continue;
        }
        const sp_json *dt = sp_json_get(e, "dtype"), *shape = sp_json_get(e, "shape"),
                      *offs = sp_json_get(e, "data_offsets");
        if (e->type != SP_JSON_OBJECT || !dt || !shape || !offs || e->len != 3) {
            rc = sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s' needs exactly dtype, shape and data_offsets", name);
            break;
        }
        sp_st_tensor *t = &st->tensors[st->count];
        if (dt->type != SP_JSON_STRING || (t->dtype = st_dtype(dt->str)) == SP_DT_INVALID) {
            rc = sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s' has unsupported dtype %.40s", name,
                         dt->type == SP_JSON_STRING ? dt->str : "(not a string)");
            break;
        }
        if (shape->type != SP_JSON_ARRAY || shape->len > SP_MAX_DIMS) {
            rc = sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s': shape must be an array of at most 8 sizes", name);
            break;
        }
        uint64_t numel = 1;
        int overflow = 0;
        t->ndim = (uint32_t)shape->len;
        for (size_t k = 0; k < shape->len; k++) {
            uint64_t dim;
            if (!nonneg_int(shape->items[k], &dim)) { overflow = 2; break; }
            t->shape[k] = dim;
            if (dim && numel > UINT64_MAX / dim) overflow = 1;
            else numel *= dim;
        }
        if (overflow == 2) { rc = sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s' has a bad shape entry", name); break; }
        uint64_t esz = sp_dtype_size(t->dtype), a, b;
        if (overflow || numel > UINT64_MAX / esz) {
            rc = sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s': shape overflows 64 bits", name);
            break;
        }
        if (offs->type != SP_JSON_ARRAY || offs->len != 2 || !nonneg_int(offs->items[0], &a) ||
            !nonneg_int(offs->items[1], &b) || b < a) {
            rc = sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s': data_offsets must be [begin, end] with begin <= end", name);
            break;
        }
        if (b > data_len) {
            rc = sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s' claims bytes [%llu, %llu) but the data area has %llu bytes",
                         name, (unsigned long long)a, (unsigned long long)b, (unsigned long long)data_len);
            break;
        }
        if (b - a != numel * esz) {
            rc = sp_fail(err, SP_ERR_INPUT, "safetensors: tensor '%.200s': %llu bytes for a shape that needs %llu", name,
                         (unsigned long long)(b - a), (unsigned long long)(numel * esz));
            break;
        }
        t->name = strdup(name);
        if (!t->name) { rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory"); break; }
        t->offset = data_start + a;
        t->size = b - a;
        order[st->count] = t;
        st->count++;
    }
    if (!rc) {
        qsort(order, st->count, sizeof *order, cmp_off);
        uint64_t pos = data_start;
        for (size_t i = 0; i < st->count && !rc; i++) {
            if (order[i]->offset < pos)
                rc = sp_fail(err, SP_ERR_INPUT, "safetensors: tensors '%.200s' and '%.200s' overlap", order[i - 1]->name, order[i]->name);
            else if (order[i]->offset > pos)
                rc = sp_fail(err, SP_ERR_INPUT, "safetensors: %llu-byte hole before tensor '%.200s'",
                             (unsigned long long)(order[i]->offset - pos), order[i]->name);
            else
                pos = order[i]->offset + order[i]->size;
        }
        if (!rc && pos != size)
            rc = sp_fail(err, SP_ERR_INPUT, "safetensors: %llu bytes after the last tensor are not described by the header",
                         (unsigned long long)(size - pos));
    }
    free(order);
    if (rc) {
        sp_safetensors_free(st);
        return rc;
    }
    *out = st;
    return 0;
}
