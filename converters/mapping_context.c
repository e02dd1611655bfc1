/* mapping_context.c — the tensor bookkeeping every mapping shares (mapping_context.h): lookup
 * under the checkpoint's prefix, rank/size/dtype checks, the output tensor list, and one summary
 * line for every missing, mis-shaped or unmapped tensor and config problem, so a user fixes a
 * checkpoint in one round instead of one error at a time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping_context.h"
#include "out_dtype.h"

int mc_init(map_ctx *m, const sp_ckpt *c, sp_out_dtype mode, const char *arch, sp_mapping_result *res, sp_error *err) {
    memset(m, 0, sizeof *m);
    m->c = c;
    m->mode = mode;
    m->arch = arch;
    m->res = res;
    m->err = err;
    memset(res, 0, sizeof *res);
    m->used = calloc(c->ntensors ? c->ntensors : 1, 1);
    if (!m->used) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    return 0;
}

void mc_free(map_ctx *m) {
    free(m->used);
    sp_sb_free(&m->missing);
    sp_sb_free(&m->shaped);
    sp_sb_free(&m->unmapped);
}

void mc_detect_prefix(map_ctx *m, const char *probe) {
    size_t pl = strlen(probe), best = SIZE_MAX;
    m->prefix[0] = 0;
    for (size_t i = 0; i < m->c->ntensors; i++) {
        const char *n = m->c->tensors[i].name;
        size_t nl = strlen(n);
        if (nl >= pl && !strcmp(n + nl - pl, probe) && nl - pl < best && nl - pl < sizeof m->prefix &&
            (nl == pl || n[nl - pl - 1] == '.')) {
            best = nl - pl;
            memcpy(m->prefix, n, best);
            m->prefix[best] = 0;
        }
    }
}

static long find_index(const map_ctx *m, const char *name) {
    char full[1024];
    snprintf(full, sizeof full, "%s%s", m->prefix, name);
    for (size_t i = 0; i < m->c->ntensors; i++)
        if (!strcmp(m->c->tensors[i].name, full)) return (long)i;
    return -1;
}

const sp_src_tensor *mc_find(const map_ctx *m, const char *name) {
    long i = find_index(m, name);
    return i < 0 ? NULL : &m->c->tensors[i];
}

int mc_ckpt_has_name(const sp_ckpt *c, const char *part) {
    for (size_t i = 0; i < c->ntensors; i++)
        if (strstr(c->tensors[i].name, part)) return 1;
    return 0;
}

static void list_add(sp_strbuf *b, int *count, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void list_add(sp_strbuf *b, int *count, const char *fmt, ...) {
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sp_sb_printf(b, "%s%s", *count ? ", " : "", tmp);
    (*count)++;
}

/* The expected shape, in sp_shape_format's form, with "*" for an unchecked dimension. */
static void expected_shape(char *out, size_t n, uint32_t ndim, uint64_t d0, uint64_t d1) {
    int o = snprintf(out, n, "[");
    for (uint32_t k = 0; k < ndim && o < (int)n - 24; k++) {
        uint64_t d = k == 0 ? d0 : k == 1 ? d1 : MC_ANY;
        o += d == MC_ANY ? snprintf(out + o, n - (size_t)o, "%s*", k ? ", " : "")
                         : snprintf(out + o, n - (size_t)o, "%s%llu", k ? ", " : "", (unsigned long long)d);
    }
    snprintf(out + o, n - (size_t)o, "]");
}

/* Checks t against the expected rank and sizes (and a floating dtype); records a problem. */
static int check_tensor(map_ctx *m, const sp_src_tensor *t, uint32_t ndim, uint64_t d0, uint64_t d1) {
    int ok = !t->placeholder && t->ndim == ndim && (d0 == MC_ANY || (ndim >= 1 && t->shape[0] == d0)) &&
             (d1 == MC_ANY || (ndim >= 2 && t->shape[1] == d1));
    if (ok && !sp_dtype_is_floating(t->dtype)) {
        list_add(&m->shaped, &m->nshaped, "%s has dtype %s (expected floating point)", t->name, sp_dtype_name(t->dtype));
        return 0;
    }
    if (ok) return 1;
    char got[128], want[128];
    if (t->placeholder) {
        list_add(&m->shaped, &m->nshaped, "%s is not a plain tensor", t->name);
        return 0;
    }
    sp_shape_format(got, sizeof got, t->ndim, t->shape);
    expected_shape(want, sizeof want, ndim, d0, d1);
    list_add(&m->shaped, &m->nshaped, "%s is %s, expected %s", t->name, got, want);
    return 0;
}

static const sp_src_tensor *take(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1, int optional) {
    long i = find_index(m, name);
    if (i < 0) {
        if (!optional) list_add(&m->missing, &m->nmissing, "%s%s", m->prefix, name);
        return NULL;
    }
    const sp_src_tensor *t = &m->c->tensors[i];
    m->used[i] = 1;
    if (!check_tensor(m, t, ndim, d0, d1)) return NULL;
    sp_mapping_result *r = m->res;
    sp_map_tensor *nt = realloc(r->tensors, (r->ntensors + 1) * sizeof *nt);
    if (!nt) {
        m->fatal = 1;
        return NULL;
    }
    r->tensors = nt;
    nt[r->ntensors].name = strdup(name);
    nt[r->ntensors].src = t;
    if (!nt[r->ntensors].name) m->fatal = 1;
    r->ntensors++;
    return t;
}

const sp_src_tensor *mc_take(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1) {
    return take(m, name, ndim, d0, d1, 0);
}

const sp_src_tensor *mc_take_opt(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1) {
    return take(m, name, ndim, d0, d1, 1);
}

void mc_ignore(map_ctx *m, const char *name) {
    long i = find_index(m, name);
    if (i >= 0) m->used[i] = 1;
}

void mc_config_error(map_ctx *m, const char *fmt, ...) {
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    list_add(&m->shaped, &m->nshaped, "%s", tmp);
}

sp_dtype mc_out_dtype(const map_ctx *m, const sp_src_tensor *src) { return sp_out_dtype_of(src, m->mode); }

/* Buffers that older Hugging Face/torch checkpoints store and nothing needs. */
static int is_unused_buffer(const char *n) {
    return strstr(n, "rotary_emb.inv_freq") || strstr(n, "freqs_cis") || strstr(n, ".masked_bias") ||
           strstr(n, "log_position") || strstr(n, "alibi_bias");
}

int mc_finish(map_ctx *m) {
    for (size_t i = 0; i < m->c->ntensors; i++)
        if (!m->used[i] && !is_unused_buffer(m->c->tensors[i].name))
            list_add(&m->unmapped, &m->nunmapped, "%s", m->c->tensors[i].name);
    if (m->fatal || m->missing.oom || m->shaped.oom || m->unmapped.oom)
        return sp_fail(m->err, SP_ERR_RUNTIME, "out of memory");
    if (!m->nmissing && !m->nshaped && !m->nunmapped) return 0;
    sp_strbuf b = {0};
    sp_sb_printf(&b, "%s mapping:", m->arch);
    if (m->nshaped) sp_sb_printf(&b, " %d invalid (%s);", m->nshaped, m->shaped.s);
    if (m->nmissing) sp_sb_printf(&b, " %d missing (%s);", m->nmissing, m->missing.s);
    if (m->nunmapped) sp_sb_printf(&b, " %d unmapped (%s);", m->nunmapped, m->unmapped.s);
    if (b.len) b.s[b.len - 1] = 0;
    int total = m->nmissing + m->nshaped + m->nunmapped;
    const char *text = b.s && !b.oom ? b.s : "mapping failed";
    if (strlen(text) > 440) {
        /* one line: the counts stay, the lists are cut */
        sp_fail(m->err, SP_ERR_INPUT, "%.400s ... (%d problems in all: %d invalid, %d missing, %d unmapped)", text,
                total, m->nshaped, m->nmissing, m->nunmapped);
    } else
        sp_fail(m->err, SP_ERR_INPUT, "%s", text);
    sp_sb_free(&b);
    return SP_ERR_INPUT;
}
