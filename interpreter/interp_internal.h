/* interp_internal.h — the interpreter's private structures: the parsed graph, the compiled
 * execution plan, the op interface every ops_*.c implements, and the session state.
 *
 * Pipeline: graph_parse.c (YAML → sp_graph, repeats expanded) → graph_validate.c (per node:
 * name, op, inputs, attributes through the op's compile hook, tensors) → plan.c (value
 * versions, buffer liveness, the logits tail) → session.c (buffers, KV cache, forward).
 */
#ifndef SPARSA_INTERP_INTERNAL_H
#define SPARSA_INTERP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "attention.h"
#include "exp_poly.h"
#include "sparsa_backend.h"
#include "sparsa_format.h"
#include "sparsa_interp.h"

/* ---- parsed graph (graph_parse.c) ------------------------------------------------------- */

typedef struct sp_gattr {
    char *key;
    int is_seq;        /* 0: scalar (text in `scalar`); 1: sequence of scalars */
    char *scalar;
    char **items;
    size_t n_items;
    int used;          /* set by the accessors; an attribute never read is unknown */
} sp_gattr;

typedef struct sp_gnode {
    char *op, *name, *out;
    char **in;
    size_t n_in;
    sp_gattr *attrs;
    size_t n_attrs;
    size_t line;       /* 1-based YAML line of the node */
} sp_gnode;

typedef struct sp_graph {
    long opset;
    char *name;
    int64_t vocab_size;
    uint64_t context_length;
    char *input, *output;
    sp_gnode *nodes;
    size_t n_nodes;
} sp_graph;

#define SP_GRAPH_MAX_REPEAT 4096
#define SP_GRAPH_MAX_NODES (1u << 18)

int sp_graph_parse(const char *yaml, size_t len, sp_graph **out, sp_error *err);
void sp_graph_free(sp_graph *g);

/* ---- weights ---------------------------------------------------------------------------- */

/* A tensor bound from the file: data stays in the mapping (or the file's zstd buffer). */
typedef struct sp_weight {
    const void *data;
    sp_dtype dtype;
    uint64_t rows, cols;   /* 2-D: [rows, cols]; 1-D: rows = 1, cols = numel */
    uint64_t numel;
} sp_weight;

/* A bound weight as the backend seam describes it. */
static inline sp_bk_tensor sp_bk_weight(const sp_weight *w) {
    sp_bk_tensor t = {.data = w->data, .dtype = (int)w->dtype, .rows = w->rows, .cols = w->cols};
    return t;
}

/* ---- ops -------------------------------------------------------------------------------- */

#define SP_MAX_OP_INPUTS 4

typedef struct sp_op sp_op;
typedef struct sp_compile_ctx sp_compile_ctx;
typedef struct sp_exec sp_exec;

/* Element-wise and row-wise loops go parallel only when there is enough work: a decode step
 * (one row) forking a thread team costs more than the loop, and far more on a busy machine. */
#define SP_PARALLEL_MIN_ELEMS ((size_t)1 << 15)
#define SP_WORTH_PARALLEL(elems) ((size_t)(elems) >= SP_PARALLEL_MIN_ELEMS)

typedef struct sp_op_kind {
    const char *name;
    int min_in, max_in;
    int tokens_input;      /* 1: input 0 is the token ids (embed) */
    int row_wise;          /* 0 for ops that look across rows (attention) */
    /* Reads the node's attributes, binds and checks tensors against the input widths
     * (cc->in_width), sets op->out_width, op->priv and op->scratch_per_row. Errors name the
     * node (sp_compile_fail). */
    int (*compile)(sp_compile_ctx *cc, sp_op *op, sp_error *err);
    void (*run)(const sp_op *op, sp_exec *ex);
    void (*free_priv)(void *priv);
    /* The backend seam (sparsa_backend.h): the op's kind there, and the hook that fills its
     * parameter block from op->priv (NULL for ops with no parameters). */
    sp_bk_kind bk_kind;
    void (*lower)(const sp_op *op, sp_bk_op *b);
    /* The CPU's opt-in bf16 compute (--precision bf16, chosen in model.c): makes the op run
     * its matrix products in bf16 (kernels/gemm_bf16.h), preparing bf16 weights once; NULL for
     * ops that stay fp32. */
    int (*use_bf16)(sp_op *op, sp_error *err);
} sp_op_kind;

const sp_op_kind *sp_op_kind_find(const char *name);

struct sp_op {
    const sp_op_kind *kind;
    const sp_gnode *gn;        /* for names in messages and describe */
    size_t n_in;
    int in_ver[SP_MAX_OP_INPUTS];  /* value versions read; -1 = the token ids */
    int out_ver;
    size_t in_width[SP_MAX_OP_INPUTS];
    size_t out_width;
    size_t scratch_floats;     /* scratch needed independent of rows */
    size_t scratch_per_row;    /* scratch needed per row of the call (capped by chunking) */
    int layer;                 /* attention ops: index into the KV cache, else -1 */
    void *priv;
};

struct sp_compile_ctx {
    sp_file *file;
    const sp_graph *graph;
    const sp_gnode *gn;
    size_t n_in;
    const size_t *in_width;    /* 0 for the token ids */
};

/* One line "graph node 'NAME' (op OP, line L): <fmt>", code SP_ERR_INPUT. */
int sp_compile_fail(const sp_compile_ctx *cc, sp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Attribute accessors: `required` = 1 fails when absent; returns 1 if present, 0 if absent
 * (default kept), negative on error (err filled). Each marks the attribute used. */
int sp_attr_int(sp_compile_ctx *cc, const char *key, int required, long long lo, long long hi,
                long long *v, sp_error *err);
int sp_attr_float(sp_compile_ctx *cc, const char *key, int required, double *v, sp_error *err);
int sp_attr_bool(sp_compile_ctx *cc, const char *key, int required, int *v, sp_error *err);
int sp_attr_string(sp_compile_ctx *cc, const char *key, int required, const char **v,
                   sp_error *err);
/* 1 if the node carries the attribute (whether or not anything read it); does not mark it
 * used, so an attribute that is only looked at stays unknown. */
int sp_attr_has(const sp_compile_ctx *cc, const char *key);
/* A sequence of floats; *v is malloc'd (caller frees). */
int sp_attr_floats(sp_compile_ctx *cc, const char *key, int required, float **v, size_t *n,
                   sp_error *err);
/* A tensor attribute: must exist, be f32/f16/bf16, have `ndim` dims (0 = any shape) and, for
 * each dim d with want[d] != 0, that size. */
int sp_attr_tensor(sp_compile_ctx *cc, const char *key, int required, int ndim,
                   const uint64_t *want, sp_weight *w, sp_error *err);
/* The same, converted to a malloc'd f32 vector of `numel` elements (norm weights, biases);
 * ndim 1: shape [numel]; ndim 0: any shape with numel elements. */
int sp_attr_tensor_f32(sp_compile_ctx *cc, const char *key, int required, int ndim,
                       uint64_t numel, float **v, sp_error *err);

/* ---- plan (plan.c) ---------------------------------------------------------------------- */

typedef struct sp_value_ver {
    const char *name;
    size_t width;
    int producer;      /* op index */
    int last_use;      /* op index of the last reader, -1 if none */
    int in_tail;       /* produced by a tail op (block-sized buffer) */
    int buffer;        /* physical buffer index in its pool */
} sp_value_ver;

typedef struct sp_plan {
    sp_value_ver *vers;
    size_t n_vers;
    size_t tail_start;         /* ops [tail_start, n_ops) run per SP_LOGIT_BLOCK rows */
    int out_ver;
    size_t *body_buf_width;    /* physical buffers of the body: width (floats per row) */
    size_t n_body_bufs;
    size_t *tail_buf_width;
    size_t n_tail_bufs;
} sp_plan;

/* A model that runs on a backend module (backend_module.c): the module's table, its handle
 * for the model, and the lowered plan it was given (backend_lower.c). */
typedef struct sp_backend_ref {
    const sp_backend_vtable *vt;
    void *model;
    void *dl;                  /* the dlopen handle of the module */
    char device[32];           /* "cuda:0" */
    sp_bk_model desc;
    sp_bk_op *ops;
    sp_bk_value *values;
} sp_backend_ref;

struct sp_model {
    sp_file *file;
    sp_backend_ref *backend;   /* NULL: the CPU kernels of this folder */
    sp_graph *graph;
    sp_op *ops;
    size_t n_ops;
    sp_plan plan;
    size_t n_layers;           /* attention ops */
    int *layer_op;             /* op index of each attention layer */
};

/* graph_validate.c: nodes → ops and value versions (fills ops, plan.vers, layers). */
int sp_graph_compile(sp_model *m, sp_error *err);
int sp_plan_build(sp_model *m, sp_error *err);
void sp_plan_free(sp_plan *p);

/* backend_lower.c: fills r->desc (and the arrays it points to) from the compiled model. */
int sp_backend_lower(const sp_model *m, sp_backend_ref *r, sp_error *err);
/* backend_module.c: runs m on the device named (after lowering); sp_backend_detach frees. */
int sp_backend_attach(sp_model *m, const char *device, int precision, sp_error *err);
void sp_backend_detach(sp_model *m);

/* ---- execution -------------------------------------------------------------------------- */

typedef struct sp_kv_layer {
    float *k, *v;              /* [max_tokens][kv width] */
    size_t k_width, v_width;
} sp_kv_layer;

struct sp_session {
    sp_model *m;
    void *backend;             /* the module's session when m->backend, else NULL */
    size_t max_tokens;
    size_t pos;
    int n_threads;
    float **body_bufs;         /* [body_rows][width] each */
    size_t body_rows;
    float **tail_bufs;         /* [logit_rows][width] each */
    size_t logit_rows;         /* rows per tail block, at most SP_LOGIT_BLOCK */
    float *scratch;
    size_t scratch_floats;
    sp_kv_layer *kv;
    int stats_on;
    sp_attn_stats **stats;     /* [layer][heads] */
    sp_head_stats **stats_out; /* copies handed out by sp_session_stats */
    double *op_seconds;        /* [n_ops] when SPARSA_PROFILE is set, else NULL */
};

/* session_check.c: room for n more tokens, and every id inside the vocabulary. */
int sp_session_check_call(const sp_session *s, const int32_t *tokens, size_t n, sp_error *err);

/* session_backend.c: a session of a model that runs on a backend module. */
int sp_bk_session_open(sp_session *s, sp_error *err);
void sp_bk_session_close(sp_session *s);
void sp_bk_session_reset(sp_session *s);
int sp_bk_session_forward(sp_session *s, const int32_t *tokens, size_t n, size_t logits_from,
                          sp_logits_sink sink, void *user, sp_error *err);
void sp_bk_session_stats_enable(sp_session *s, int on);
void sp_bk_session_stats_reset(sp_session *s);
const sp_head_stats *sp_bk_session_stats(const sp_session *s, size_t layer);

/* What an op's run hook sees: rows [0, n) of this call are positions pos0 .. pos0+n-1. */
struct sp_exec {
    sp_session *s;
    size_t n, pos0;
    const int32_t *tokens;     /* embed */
    const float *in[SP_MAX_OP_INPUTS];
    float *out;
    float *scratch;            /* op->scratch_floats + n·scratch_per_row floats (chunked) */
    size_t scratch_rows;       /* rows the per-row scratch was sized for */
};

/* Rows per chunk for ops whose scratch is per row (MLP hidden, attention scale). */
#define SP_ROW_CHUNK 256

/* ---- activations (inline so loops over them vectorise) -------------------------------- */

/* e^x for finite x, within 2 ulp (Cephes polynomial after reduction by ln 2); results are
 * clamped to [e^-87, e^88]; NaN propagates. Branch-free, so GCC vectorises loops over it. */
static inline float sp_expf_fast(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n, r, p;
    SP_EXP_REDUCE(x, n, r);
    SP_EXP_POLY(r, p);
    const uint32_t sb = (uint32_t)((int32_t)n + 127) << 23; /* 2^n */
    float sc;
    memcpy(&sc, &sb, 4);
    return p * sc;
}

static inline float sp_silu(float x) { return x / (1.0f + sp_expf_fast(-x)); }

/* 0.5·x·(1 + tanh(u)) with u = √(2/π)(x + 0.044715x³), written as x·σ(2u) (the same
 * function: 0.5(1 + tanh u) = σ(2u)). */
static inline float sp_gelu_tanh(float x) {
    float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + sp_expf_fast(-2.0f * u));
}

/* 0.5·x·(1 + erf(x/√2)) (ops_common.c). */
float sp_gelu_erf(float x);

/* w as bf16 for the CPU's bf16 compute (ops_common.c): as stored when it is bf16, else a copy
 * rounded once, kept in *copy for the op to free. */
int sp_weight_bf16(const sp_weight *w, const uint16_t **out, uint16_t **copy, sp_error *err);

#endif
