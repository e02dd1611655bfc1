/* sparsa_backend.h — the backend seam: how a compiled model is handed to a backend other
 * than the CPU (today: the CUDA module, libsparsa-cuda.so, loaded with dlopen only when
 * `--device cuda[:N]` asks for it; docs/ARCHITECTURE.md, "Backends").
 *
 * The interpreter parses, validates and verifies the graph exactly as for the CPU, then
 * lowers every op to a plain description (sp_bk_op: the op's kind, its value ids, widths,
 * bound weights and attributes) and passes the whole plan (sp_bk_model) to the module's
 * open_model. The module keeps its own table, op kind → kernel, so adding an op is one row
 * here (SP_BK_*), one lowering hook in its ops_<name>.c, and one kernel per backend.
 *
 * This header is plain C with no dependency on the interpreter's internals, so a module
 * built by another compiler (nvcc) includes it alone, plus sparsa_common.h for sp_error.
 * Everything it points to (weights in the mapped file, f32 vectors, names) belongs to the
 * model and stays valid until free_model returns; a module copies what it needs to its
 * device in open_model.
 */
#ifndef SPARSA_BACKEND_H
#define SPARSA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct below changes; a module built for another ABI is refused. */
#define SP_BACKEND_ABI 2
/* The symbol every module exports: const sp_backend_vtable *sparsa_backend_v1(void). */
#define SP_BACKEND_ENTRY "sparsa_backend_v1"

typedef enum { SP_PREC_FP32 = 0, SP_PREC_TF32 = 1, SP_PREC_BF16 = 2 } sp_precision;

/* A weight as stored in the file: dtype is an sp_dtype value (SP_F32 1, SP_F16 2, SP_BF16 3);
 * 2-D [rows][cols] row-major (PyTorch's [out, in] for linear layers); 1-D: rows 1. data NULL:
 * absent (an optional tensor the graph does not give). */
typedef struct sp_bk_tensor {
    const void *data;
    int dtype;
    uint64_t rows, cols;
} sp_bk_tensor;

typedef enum {
    SP_BK_EMBED = 1, SP_BK_RMSNORM, SP_BK_LAYERNORM, SP_BK_LINEAR, SP_BK_ROPE,
    SP_BK_ATTENTION, SP_BK_MLP, SP_BK_ADD, SP_BK_SOFTCAP, SP_BK_SCALE
} sp_bk_kind;

/* MLP activations (format/GRAPH.md, the `mlp` op). */
typedef enum { SP_BK_SILU = 0, SP_BK_GELU_TANH, SP_BK_GELU, SP_BK_RELU } sp_bk_act;

/* Length-dependent query scaling (docs/ATTENTION_MATH.md#query-scaling). */
typedef enum { SP_BK_QS_NONE = 0, SP_BK_QS_ASENTMAX, SP_BK_QS_SSMAX, SP_BK_QS_LEARN } sp_bk_qscale;

/* The attention op, every field the CPU kernel reads (docs/ATTENTION_MATH.md). Scores are
 * s_ij = scale · (qscale_i,h · q_i) · k_j (+ ALiBi −slope_h·(i − j)), soft-capped when
 * softcap > 0, over visible keys j (causal: j <= i, or j < i when before_query; window w:
 * i − j < w), then normalised by `normalizer`. */
typedef struct sp_bk_attention {
    int heads, kv_heads, head_dim, value_dim;
    float scale;
    int causal;
    int window;                 /* 0 = none */
    float softcap;              /* 0 = none */
    const char *normalizer;     /* "softmax", "entmax", "sparsemax", "adaptive_softmax",
                                 * "stickbreaking", "topk" (the CPU table's names) */
    float alpha;                /* entmax α (sparsemax: 2) */
    int topk, topk_div2;
    int before_query;           /* the normaliser sees keys j < i only (stick-breaking) */
    const float *alibi_slopes;  /* [heads] or NULL */
    /* query scale */
    sp_bk_qscale qscale;
    int scaled_heads;           /* the last scaled_heads heads are scaled */
    float delta, gamma_range;
    int log_offset;             /* ℓ_i = log(i + log_offset) */
    const float *beta, *gamma;  /* ssmax/learn: [scaled_heads] constants (learn: both) */
    sp_bk_tensor beta_w, gamma_w;      /* asentmax: [scaled_heads][h width] projections */
    const float *beta_b, *gamma_b;     /* asentmax: [scaled_heads] biases or NULL */
} sp_bk_attention;

/* One op of the plan. in[j] are value ids (index into sp_bk_model.values), -1 for the token
 * ids (embed); out is a value id. Which parameter block is set depends on kind. */
typedef struct sp_bk_op {
    sp_bk_kind kind;
    const char *name;           /* the graph node's name, for messages */
    int n_in;
    int in[4];
    int out;
    size_t in_width[4], out_width;
    int layer;                  /* attention: index of its KV cache, else -1 */
    union {
        struct { sp_bk_tensor table; float scale; } embed;
        /* rmsnorm: y = x / sqrt(mean(x²) + eps) · weight (any offset is already folded into
         * weight); layernorm: y = (x − mean) / sqrt(var + eps) · weight + bias (bias may be
         * NULL; biased variance). Statistics in double on the CPU. */
        struct { const float *weight, *bias; float eps; } norm;
        struct { sp_bk_tensor weight; const float *bias; } linear;   /* y = x Wᵀ + b */
        /* Rotates the first `rot` dims of each head of width head_dim at the row's position:
         * pairs (k, k + rot/2) (neox) or (2k, 2k + 1) (interleaved), angle pos·inv_freq[k]. */
        struct { size_t head_dim, rot; int interleaved; const float *inv_freq; } rope;
        struct {
            sp_bk_act act;
            int gated;          /* y = down(act(gate x + gb) · (up x + ub)) + db; else down(act(up x)) */
            size_t hidden;
            sp_bk_tensor up, gate, down;
            const float *up_b, *gate_b, *down_b;
        } mlp;
        struct { float value; } scalar;   /* softcap: cap (y = cap·tanh(x/cap)); scale: factor */
        sp_bk_attention attn;
    } u;
} sp_bk_op;

/* A value version of the plan: its width (floats per row), and whether it is produced in the
 * logits tail (ops after the last attention op, run per block of rows on the CPU). */
typedef struct sp_bk_value {
    const char *name;
    size_t width;
    int producer;               /* op index */
    int last_use;               /* op index of the last reader, -1 if none */
} sp_bk_value;

/* The whole plan. Ops run in order; tail_start is the first op after the last attention op
 * (final norm, LM head, soft-cap); the output value holds the logits [rows][vocab]. */
typedef struct sp_bk_model {
    int abi;                    /* SP_BACKEND_ABI */
    const sp_bk_op *ops;
    size_t n_ops;
    const sp_bk_value *values;
    size_t n_values;
    size_t tail_start;
    int out_value;
    int32_t vocab;
    size_t n_layers;
    uint64_t context_length;    /* 0 = no limit */
} sp_bk_model;

/* How the module should run: device index (cuda:N) and precision. fp32 is the parity mode
 * (fp32 arithmetic everywhere); tf32 lets GEMMs use TF32 tensor cores; bf16 runs GEMMs and
 * attention in bf16 with fp32 accumulation (weights stored bf16/f16 stay as stored). */
typedef struct sp_bk_config {
    int device;
    /* 1: `device` is the process's local rank under MPI (plain --device cuda): the module uses
     * GPU device mod (number of visible GPUs), so one node with G GPUs runs G ranks. */
    int device_wrap;
    sp_precision precision;
    int verbose;                /* 1: one line to stderr naming the GPU and memory use */
} sp_bk_config;

/* Receives rows [first_row, first_row + n_rows) of logits, as sparsa_interp.h's sink. */
typedef int (*sp_bk_sink)(void *user, size_t first_row, size_t n_rows, const float *logits);

/* Per head statistics, as sp_head_stats (sparsa_interp.h). */
typedef struct sp_bk_head_stats {
    uint64_t rows, support, visible, tiles, tiles_skipped;
} sp_bk_head_stats;

/* What a module provides. Every function returns SP_OK or an sp_status with err filled (one
 * line): SP_ERR_INPUT for what the user can fix (no GPU, an op or normaliser this module does
 * not run, a device index out of range), SP_ERR_RUNTIME for failures while running. */
typedef struct sp_backend_vtable {
    int abi;                    /* SP_BACKEND_ABI */
    const char *name;           /* "cuda" */
    int (*open_model)(const sp_bk_model *m, const sp_bk_config *cfg, void **model,
                      sp_error *err);
    void (*free_model)(void *model);
    /* A session: KV cache for max_tokens positions and the activations of one call. */
    int (*session_create)(void *model, size_t max_tokens, void **session, sp_error *err);
    void (*session_free)(void *session);
    void (*session_reset)(void *session);       /* empties the KV cache */
    /* As sp_session_forward: tokens at positions pos..pos+n-1, logits of rows >= logits_from
     * delivered to sink in blocks, on the host. */
    int (*forward)(void *session, const int32_t *tokens, size_t n, size_t pos,
                   size_t logits_from, sp_bk_sink sink, void *user, sp_error *err);
    /* The scoring head fused: for each row r in [logits_from, n), nll[r − logits_from] =
     * logsumexp(logits_r) − logits_r[targets[r]] in double, the logits never stored whole
     * (vocabulary chunks). A non-finite logit gives a non-finite nll, never an error. */
    int (*forward_nll)(void *session, const int32_t *tokens, size_t n, size_t pos,
                       size_t logits_from, const int32_t *targets, double *nll, sp_error *err);
    /* Attention statistics (optional: all three NULL when the module keeps none). enable:
     * start/stop counting in later forwards; reset: zero them; read: layer's counters since the
     * last reset into out[heads]. */
    void (*stats_enable)(void *session, int on);
    void (*stats_reset)(void *session);
    int (*stats_read)(void *session, size_t layer, sp_bk_head_stats *out, sp_error *err);
    /* Several independent sequences in one call (perplexity's windows batched across the
     * device; optional: both NULL when the module has none). Sequence b is tokens[b·n, b·n + n)
     * at positions 0 .. n − 1 on an empty KV cache, exactly as forward_nll after session_reset;
     * for each row r in [logits_from, n) of sequence b, nll[b·(n − logits_from) + r −
     * logits_from] with target targets[b·n + r]. Afterwards the KV cache holds the last
     * sequence (positions 0 .. n − 1). batch_capacity: the most sequences of n tokens one
     * call takes (at least 1). */
    size_t (*batch_capacity)(void *session, size_t n);
    int (*forward_nll_batch)(void *session, const int32_t *tokens, size_t n_seq, size_t n,
                             size_t logits_from, const int32_t *targets, double *nll,
                             sp_error *err);
} sp_backend_vtable;

typedef const sp_backend_vtable *(*sp_backend_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
