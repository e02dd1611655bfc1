/* graph_attr.c — typed access to a node's attributes and tensors (format/GRAPH.md §3, §6).
 * Every accessor marks the attribute used, so graph_validate.c can reject the ones no op read. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

int sp_compile_fail(const sp_compile_ctx *cc, sp_error *err, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sp_fail(err, SP_ERR_INPUT, "graph node '%s' (op %s, line %zu): %s", cc->gn->name,
                   cc->gn->op, cc->gn->line, msg);
}

static sp_gattr *find(sp_compile_ctx *cc, const char *key) {
    for (size_t i = 0; i < cc->gn->n_attrs; i++)
        if (!strcmp(cc->gn->attrs[i].key, key)) {
            cc->gn->attrs[i].used = 1;
            return &cc->gn->attrs[i];
        }
    return NULL;
}

int sp_attr_has(const sp_compile_ctx *cc, const char *key) {
    for (size_t i = 0; i < cc->gn->n_attrs; i++)
        if (!strcmp(cc->gn->attrs[i].key, key)) return 1;
    return 0;
}

/* Present-and-scalar check shared by the scalar accessors: 1 present, 0 absent, <0 error. */
static int get_scalar(sp_compile_ctx *cc, const char *key, int required, const char *type,
                      const char **s, sp_error *err) {
    sp_gattr *a = find(cc, key);
    if (!a) {
        if (required) return -sp_compile_fail(cc, err, "missing attribute '%s'", key);
        return 0;
    }
    if (a->is_seq) return -sp_compile_fail(cc, err, "attribute '%s' must be %s, not a list", key, type);
    *s = a->scalar;
    return 1;
}

int sp_attr_int(sp_compile_ctx *cc, const char *key, int required, long long lo, long long hi,
                long long *v, sp_error *err) {
    const char *s;
    int r = get_scalar(cc, key, required, "an integer", &s, err);
    if (r <= 0) return r;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return -sp_compile_fail(cc, err, "attribute '%s' must be an integer (got '%s')", key, s);
    if (x < lo || x > hi)
        return -sp_compile_fail(cc, err, "attribute '%s' = %lld outside %lld..%lld", key, x, lo, hi);
    *v = x;
    return 1;
}

static int parse_float(const char *s, double *v) {
    char *end = NULL;
    errno = 0;
    double x = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(x)) return -1;
    *v = x;
    return 0;
}

int sp_attr_float(sp_compile_ctx *cc, const char *key, int required, double *v, sp_error *err) {
    const char *s;
    int r = get_scalar(cc, key, required, "a number", &s, err);
    if (r <= 0) return r;
    if (parse_float(s, v))
        return -sp_compile_fail(cc, err, "attribute '%s' must be a finite number (got '%s')", key, s);
    return 1;
}

int sp_attr_bool(sp_compile_ctx *cc, const char *key, int required, int *v, sp_error *err) {
    const char *s;
    int r = get_scalar(cc, key, required, "a boolean", &s, err);
    if (r <= 0) return r;
    if (!strcmp(s, "true") || !strcmp(s, "True")) *v = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "False")) *v = 0;
    else return -sp_compile_fail(cc, err, "attribute '%s' must be true or false (got '%s')", key, s);
    return 1;
}

int sp_attr_string(sp_compile_ctx *cc, const char *key, int required, const char **v,
                   sp_error *err) {
    return get_scalar(cc, key, required, "a string", v, err);
}

int sp_attr_floats(sp_compile_ctx *cc, const char *key, int required, float **v, size_t *n,
                   sp_error *err) {
    sp_gattr *a = find(cc, key);
    *v = NULL;
    *n = 0;
    if (!a) {
        if (required) return -sp_compile_fail(cc, err, "missing attribute '%s'", key);
        return 0;
    }
    if (!a->is_seq) return -sp_compile_fail(cc, err, "attribute '%s' must be a list of numbers", key);
    float *out = malloc((a->n_items ? a->n_items : 1) * sizeof *out);
    if (!out) return -sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < a->n_items; i++) {
        double x;
        if (parse_float(a->items[i], &x)) {
            free(out);
            return -sp_compile_fail(cc, err, "attribute '%s' item %zu must be a finite number", key, i);
        }
        out[i] = (float)x;
    }
    *v = out;
    *n = a->n_items;
    return 1;
}

/* The shape an accessor asked for, in sp_shape_format's notation with '*' for a dimension of
 * any size ("[*, 8]"): a pattern, not a shape, so it cannot go through sp_shape_format. */
static void shape_pattern(int ndim, const uint64_t *want, char *buf, size_t cap) {
    sp_strbuf b = {0};
    sp_sb_puts(&b, "[");
    for (int d = 0; d < ndim; d++) {
        if (want && want[d]) sp_sb_printf(&b, "%s%llu", d ? ", " : "", (unsigned long long)want[d]);
        else sp_sb_printf(&b, "%s*", d ? ", " : "");
    }
    sp_sb_puts(&b, "]");
    snprintf(buf, cap, "%s", b.oom ? "[...]" : b.s);
    sp_sb_free(&b);
}

int sp_attr_tensor(sp_compile_ctx *cc, const char *key, int required, int ndim,
                   const uint64_t *want, sp_weight *w, sp_error *err) {
    const char *name;
    int r = get_scalar(cc, key, required, "a tensor name", &name, err);
    if (r <= 0) return r;
    const sp_tensor_info *t = sp_file_find_tensor(cc->file, name);
    if (!t) return -sp_compile_fail(cc, err, "attribute '%s': unknown tensor '%s'", key, name);
    if (t->dtype != SP_F32 && t->dtype != SP_F16 && t->dtype != SP_BF16)
        return -sp_compile_fail(cc, err, "tensor '%s' has dtype %s (f32, f16 or bf16 needed)", name,
                                sp_dtype_name(t->dtype));
    int bad = ndim && (int)t->ndim != ndim;
    for (int d = 0; !bad && ndim && want && d < ndim; d++)
        if (want[d] && t->dims[d] != want[d]) bad = 1;
    if (bad) {
        char got[160], exp[160];
        sp_shape_format(got, sizeof got, t->ndim, t->dims);
        shape_pattern(ndim, want, exp, sizeof exp);
        return -sp_compile_fail(cc, err, "tensor '%s' (attribute '%s') has shape %s, expected %s",
                                name, key, got, exp);
    }
    const void *data = NULL;
    sp_error e2 = {0};
    if (t->numel && sp_file_tensor_data(cc->file, t, &data, &e2))
        return -sp_compile_fail(cc, err, "%s", e2.msg); /* it names the tensor */
    w->data = data;
    w->dtype = t->dtype;
    w->numel = t->numel;
    w->rows = t->ndim >= 2 ? t->dims[0] : 1;
    w->cols = t->ndim >= 2 ? t->numel / (t->dims[0] ? t->dims[0] : 1) : t->numel;
    return 1;
}

int sp_attr_tensor_f32(sp_compile_ctx *cc, const char *key, int required, int ndim,
                       uint64_t numel, float **v, sp_error *err) {
    sp_weight w;
    uint64_t want[1] = {numel};
    *v = NULL;
    int r = sp_attr_tensor(cc, key, required, ndim, ndim == 1 ? want : NULL, &w, err);
    if (r <= 0) return r;
    if (w.numel != numel)
        return -sp_compile_fail(cc, err, "tensor for attribute '%s' has %llu elements, expected %llu",
                                key, (unsigned long long)w.numel, (unsigned long long)numel);
    float *out = malloc((numel ? numel : 1) * sizeof *out);
    if (!out) return -sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (uint64_t i = 0; i < numel; i++) {
        switch (w.dtype) {
        case SP_F32: memcpy(&out[i], (const float *)w.data + i, sizeof(float)); break;
        case SP_F16: out[i] = sp_f16_to_f32(((const uint16_t *)w.data)[i]); break;
        default: out[i] = sp_bf16_to_f32(((const uint16_t *)w.data)[i]); break;
        }
    }
    *v = out;
    return 1;
}
