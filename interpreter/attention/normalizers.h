/* normalizers.h — the table of attention normalisers: one row per value of the attention op's
 * `normalizer` attribute (format/GRAPH.md, docs/ATTENTION_MATH.md#normalisers).
 *
 * A row names the normaliser, lists the attributes only it reads, parses them into
 * sp_attn_params, and gives the row kernel that turns one query's scores into weights. Prefill
 * and decode call the same row kernel, so they agree. The attention op (ops_attention.c) and
 * the kernel (attention.c) only ever go through this table; nothing else switches on the
 * normaliser.
 *
 * Adding a normaliser: one file defining `const sp_norm_kind sp_norm_<name>` (its row kernel
 * and attribute parse) and one row in normalizers.c; its math goes to docs/ATTENTION_MATH.md.
 */
#ifndef SPARSA_NORMALIZERS_H
#define SPARSA_NORMALIZERS_H

#include <stddef.h>
#include <stdint.h>

#include "attention_internal.h"
#include "sparsa_common.h"

struct sp_compile_ctx; /* interp_internal.h: the graph node being compiled */
struct sp_qtile;       /* tiled.h: a query tile of one head */
struct sp_tile_ws;

/* What a parse hook may ask of the node being compiled. The attention op fills it with the
 * graph accessors (sp_attr_*, sp_compile_fail), so the kernels of this folder do not depend on
 * the graph code. Reads return 1 when present, 0 when absent (value kept), negative on error
 * (err filled), and mark the attribute used; fail makes the one-line error naming the node. */
typedef struct sp_norm_attrs {
    struct sp_compile_ctx *cc;
    int (*read_float)(struct sp_compile_ctx *cc, const char *key, int required, double *v,
                      sp_error *err);
    int (*read_int)(struct sp_compile_ctx *cc, const char *key, int required, long long lo,
                    long long hi, long long *v, sp_error *err);
    int (*read_string)(struct sp_compile_ctx *cc, const char *key, int required, const char **v,
                       sp_error *err);
    int (*fail)(const struct sp_compile_ctx *cc, sp_error *err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
} sp_norm_attrs;

struct sp_norm_kind {
    const char *name;          /* the `normalizer` value in the graph */
    /* Attributes that belong to this normaliser only (NULL-terminated; NULL for none). A node
     * that names another normaliser and carries one of them is refused with a clear message. */
    const char *const *attrs;
    /* Reads those attributes into ap (alpha, topk, …); returns SP_OK or an error naming the
     * node. NULL: nothing to read. */
    int (*parse)(const sp_norm_attrs *a, sp_attn_params *ap, sp_error *err);
    /* Normalises the scores ws->s[0..n) (n >= 1) of one query over its visible keys (ws->t:
     * scratch of n floats). Dense normalisers write w[j] for every key and return n; sparse
     * ones write their support as weights ws->w[0..m) at key offsets ws->idx[0..m), in
     * increasing key order (the output is summed in key order), and return m. */
    size_t (*row)(const sp_attn_params *p, size_t n, sp_row_ws *ws);
    /* The tiled path (docs/ATTENTION_MATH.md#tiled-attention): runs a query tile of one head over
     * all its keys and writes each live row's output to out + lane · ostride (tiled.h); st:
     * the head's counters. Prefill and decode both take it. NULL: the row kernel above, one
     * query row at a time. */
    void (*tile)(const struct sp_qtile *t, struct sp_tile_ws *ws, float *out, size_t ostride,
                 uint64_t *st);
    /* 1: exact zeros are part of the definition and the row kernel returns only the support;
     * keys outside it are never touched again (no power, no V row read). */
    int sparse;
    /* 1: the query sees strictly earlier keys only (j < i), whatever `causal` says. */
    int before_query;
    const char *math;          /* where its formulas are: docs/ATTENTION_MATH.md#… */
};

/* Rows of the table in order (for messages that list every normaliser); NULL past the end. */
const sp_norm_kind *sp_norm_at(size_t i);

#endif
