/* sparsa_interp.h — runs the graph stored in a sparsa model file (format/GRAPH.md).
 *
 * Contract:
 *  - sp_model_open validates the whole graph against the file's tensors (unknown op/attribute,
 *    missing tensor, shape or dtype mismatch, use before definition) and compiles an execution
 *    plan; every error names the node. Weights stay in the mapped file (f16/bf16 are converted
 *    inside the kernels). Opening reads each weight the graph uses once, to check it against
 *    its CRC-32 (a damaged tensor is SP_ERR_INPUT naming it); with no_verify it costs
 *    O(graph), not O(weights).
 *  - A session owns the KV cache (sized once at creation for max_tokens) and every buffer
 *    (activations grow to the largest call, never beyond max_tokens rows).
 *  - sp_session_forward appends tokens after those already cached: a whole window at once
 *    (batched prefill with matrix–matrix products) or one token (decode). Both paths give the
 *    same numbers to ~1e-6, and results are bit-identical for any thread count.
 *  - Logits are delivered to a sink in blocks of at most SP_LOGIT_BLOCK rows, so a caller that
 *    reduces them row by row (perplexity) needs O(vocab) memory, not O(tokens × vocab).
 *  - With the environment variable SPARSA_PROFILE=1, a session times every op and prints the
 *    wall time per op kind to stderr when it is freed.
 */
#ifndef SPARSA_INTERP_H
#define SPARSA_INTERP_H

#include <stddef.h>
#include <stdint.h>
#include "sparsa_format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds on the rows of one logits block (the session picks the height from the vocabulary). */
#define SP_LOGIT_BLOCK 256
#define SP_LOGIT_BLOCK_MIN 16

typedef struct sp_model sp_model;
typedef struct sp_session sp_session;

/* How a model is opened; all-zero (or a NULL pointer) is the default. */
typedef struct sp_model_options {
    int no_verify;  /* 1: trust uncompressed weights without their CRC-32 check (--no-verify) */
    /* Where the model runs: "cpu", "cuda" or "cuda:N" (the CUDA module, sparsa_backend.h);
     * NULL: the process default below (precision is then the default's too). */
    const char *device;
    int precision;  /* sp_precision (sparsa_backend.h): SP_PREC_FP32 (0, default), TF32, BF16;
                     * the CPU computes in fp32, or with BF16 its matrix products in bf16 on a
                     * CPU with AVX512_BF16, on its AMX tiles where it has them (TF32, or BF16
                     * without AVX512_BF16, is SP_ERR_INPUT) */
} sp_model_options;

/* The device and precision for opens whose options name no device (the command line's
 * --device and --precision). device NULL or "cpu": the CPU. The strings must outlive every
 * open. */
void sp_set_default_device(const char *device, int precision);
/* The default's kind ("cpu" or "cuda", without the GPU index: ranks on different GPUs of one
 * run give the same results) and precision ("fp32", "tf32", "bf16"), as reports record them. */
void sp_default_device(const char **kind, const char **precision);
const char *sp_precision_name(int precision);   /* "fp32", "tf32", "bf16"; "invalid" */
/* Which unit runs the CPU's bf16 products: "amx" (AMX tiles), "avx512_bf16" (dot products) or
 * "none". The two may differ in the last bits (the order of sums inside a tile), so reports of
 * --precision bf16 on the CPU record it. SPARSA_BF16_ENGINE=avx512_bf16 keeps AMX off. */
const char *sp_cpu_bf16_engine(void);
/* 1 if device names a device sparsa knows: "cpu", "cuda" or "cuda:N" (N up to 4 digits). */
int sp_device_name_ok(const char *device);

/* Opens path (takes its own sp_file) and compiles the plan; sp_model_open uses the defaults. */
int sp_model_open(const char *path, sp_model **out, sp_error *err);
int sp_model_open_opts(const char *path, const sp_model_options *opts, sp_model **out,
                       sp_error *err);
void sp_model_free(sp_model *m);

sp_file *sp_model_file(const sp_model *m);
const char *sp_model_device(const sp_model *m);        /* "cpu" or "cuda:N" */
int32_t sp_model_vocab_size(const sp_model *m);
uint64_t sp_model_context_length(const sp_model *m);   /* 0 = no limit */
size_t sp_model_layer_count(const sp_model *m);        /* attention ops, in graph order */
int sp_model_attention_heads(const sp_model *m, size_t layer);
/* A human-readable summary of the plan (used by `inspect --graph`). Caller frees. */
char *sp_model_describe(const sp_model *m);

/* n_threads <= 0: OpenMP's default. max_tokens: capacity of the KV cache. */
int sp_session_create(sp_model *m, size_t max_tokens, int n_threads, sp_session **out,
                      sp_error *err);
void sp_session_free(sp_session *s);
void sp_session_reset(sp_session *s);            /* empties the KV cache */
size_t sp_session_position(const sp_session *s); /* tokens in the KV cache */

/* Receives rows [first_row, first_row + n_rows) of the logits of the current call, row-major
 * [n_rows][vocab]. Return 0 to go on, non-zero to abort the forward (returned as SP_ERR_RUNTIME
 * unless err was filled). */
typedef int (*sp_logits_sink)(void *user, size_t first_row, size_t n_rows, const float *logits);

/* Runs tokens[0..n) at positions pos..pos+n-1 (pos = sp_session_position). Logits are computed
 * only for rows >= logits_from (use n to skip them all) and passed to sink. Ids outside
 * [0, vocab) and pos + n > max_tokens or > context length are SP_ERR_INPUT. */
int sp_session_forward(sp_session *s, const int32_t *tokens, size_t n, size_t logits_from,
                       sp_logits_sink sink, void *user, sp_error *err);

/* The scoring head fused on the device (backends with their own memory, e.g. CUDA): runs
 * tokens[0..n) as sp_session_forward and, for each row r in [logits_from, n), writes
 * nll[r − logits_from] = logsumexp(logits_r) − logits_r[targets[r]] (double) without sending
 * logits to the host. Only when sp_session_fused_nll says so; a non-finite logit gives a
 * non-finite nll. */
int sp_session_fused_nll(const sp_session *s);
int sp_session_forward_nll(sp_session *s, const int32_t *tokens, size_t n, size_t logits_from,
                           const int32_t *targets, double *nll, sp_error *err);
/* Several windows at once (backends that batch them across the device): sp_session_nll_batch
 * is how many sequences of n tokens one call takes (1 where there is no batching);
 * sp_session_forward_nll_batch runs sequence b = tokens[b·n, b·n + n) as
 * sp_session_forward_nll would right after sp_session_reset, its rows' NLLs at
 * nll[b·(n − logits_from) ..] with targets[b·n + r]. */
size_t sp_session_nll_batch(const sp_session *s, size_t n);
int sp_session_forward_nll_batch(sp_session *s, const int32_t *tokens, size_t n_seq, size_t n,
                                 size_t logits_from, const int32_t *targets, double *nll,
                                 sp_error *err);

/* Attention sparsity statistics, accumulated over every forward since the last reset_stats:
 * per attention layer and head, the number of (query row) normalisations, the sum of support
 * sizes (keys with p > 0) and the sum of visible keys; for the tiled α-entmax family also the
 * (query row, key tile) pairs with a visible key and those skipped because no key of the tile
 * has p > 0 (docs/ATTENTION_MATH.md#tiled-attention; 0 and 0 for other normalisers). */
typedef struct sp_head_stats {
    uint64_t rows;
    uint64_t support;
    uint64_t visible;
    uint64_t tiles;
    uint64_t tiles_skipped;
} sp_head_stats;

void sp_session_enable_stats(sp_session *s, int on);
/* Returns a pointer to [layer_count][heads] entries, valid until the session is freed. */
const sp_head_stats *sp_session_stats(const sp_session *s, size_t layer);
void sp_session_reset_stats(sp_session *s);

#ifdef __cplusplus
}
#endif
#endif
