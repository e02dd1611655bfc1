/* cu_internal.h — what the CUDA module's own files share (not the attention family's
 * interface, which is cu_attention.h): the model and session as the module keeps them, one
 * op's execution context, and the helpers every file calls (errors, weights, GEMMs, scratch).
 *
 * A model (cu_model) holds the plan's description (sparsa_backend.h, owned by the caller) and
 * every weight uploaded once; a session (cu_session) holds one stream, one cuBLAS handle, the
 * KV caches, the value buffers of one call and the scratch, all allocated with cudaMalloc and
 * freed in session_free. Nothing here blocks the host except the copies to the sink.
 */
#ifndef SPARSA_CU_INTERNAL_H
#define SPARSA_CU_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_attention.h"
#include "sparsa_backend.h"

/* ---- errors (cu_errors.cu) ---------------------------------------------------------------- */

/* One-line errors are the floor's sp_fail (sparsa_common.h): common/error.c is compiled into
 * the module, hidden, since the executable that loads it need not export its symbols. */
/* A CUDA runtime failure while running: SP_ERR_RUNTIME "CUDA: <what>: <cudaGetErrorString>";
 * out of memory names the bytes asked for when bytes > 0. */
int cu_fail_cuda(sp_error *err, cudaError_t e, const char *what, size_t bytes);
int cu_fail_cublas(sp_error *err, cublasStatus_t st, const char *what);
/* Picks the GPU of cfg (device index, wrapped over the visible GPUs when device_wrap) and makes
 * it current: SP_ERR_INPUT "no CUDA driver", "no CUDA GPU", "cuda:N out of range (M GPUs)". */
int cu_select_device(const sp_bk_config *cfg, int *device, sp_error *err);

/* ---- weights (cu_weights.cu) -------------------------------------------------------------- */

/* Element types on the device. */
enum { CU_F32 = 1, CU_F16 = 2, CU_BF16 = 3 };

/* A matrix on the device, [rows][cols] row-major, in dtype. */
typedef struct cu_weight {
    void *data;
    int dtype;
    uint64_t rows, cols;
    const void *host;       /* the tensor it was uploaded from, and in which precision */
    int prec;
    int borrowed;           /* another op's upload of the same tensor: not freed here */
} cu_weight;

/* Uploads t: fp32 and tf32 precision store f32 (f16/bf16 widen exactly); bf16 precision
 * stores f32 as bf16 and keeps bf16/f16 as stored. t->data NULL gives an empty weight. */
int cu_weight_upload(const sp_bk_tensor *t, sp_precision prec, cu_weight *out, sp_error *err);
void cu_weight_free(cu_weight *w);
/* out = a's rows then b's (same dtype and columns); a and b are freed. */
int cu_weight_stack(cu_weight *a, cu_weight *b, cu_weight *out, sp_error *err);
/* Uploads n floats (NULL or n == 0: *out = NULL). */
int cu_floats_upload(const float *host, size_t n, float **out, sp_error *err);
/* cudaMalloc with the error line naming the bytes and what they were for. */
int cu_alloc(void **p, size_t bytes, const char *what, sp_error *err);

/* ---- model, session ----------------------------------------------------------------------- */

/* The device copies of one op's parameters (which slots are used depends on the kind: see
 * each cu_ops_*.cu's upload). */
typedef struct cu_op_dev {
    cu_weight w[3];
    float *vec[4];
    /* mlp: w[0] holds the gate's rows then the up's (one product for both; cu_ops_gemm.cu) */
    int gate_up;
} cu_op_dev;

typedef struct cu_model {
    const sp_bk_model *m;   /* the caller's description, valid until free_model */
    int device;
    sp_precision prec;
    int verbose;
    cu_op_dev *dev;         /* [n_ops] */
    size_t weight_bytes;
    /* cu_fuse.cu: ops [0, body_end) run on all rows at once; run_as[i] how op i runs
     * (CU_RUN_*); shadow[v]: value v is written only as bf16 rows in CU_SCR_SHADOW */
    size_t body_end;
    unsigned char *run_as, *shadow;
    /* the LM head op when the tail is "row-wise ops → linear to the vocabulary → softcap/scale
     * ops → output" (the scoring head runs it in vocabulary chunks), else -1 */
    long head;
} cu_model;

enum { CU_RUN_OP = 0, CU_RUN_ADD_NORM, CU_RUN_FUSED };

/* As cu_weight_upload, but a tensor some op of cm already uploaded in the same precision (a
 * tied embedding and LM head) is shared, not copied again (cu_weights.cu). */
int cu_model_weight(cu_model *cm, const sp_bk_tensor *t, sp_precision prec, cu_weight *out,
                    sp_error *err);

/* Reusable device scratch, grown on demand (contents do not outlive one op). */
enum {
    CU_SCR_HALF_IN,         /* activations converted to f16/bf16 for a GEMM */
    CU_SCR_HID_UP, CU_SCR_HID_GATE, /* the MLP's hidden rows */
    CU_SCR_QSCALE, CU_SCR_QS_BETA, CU_SCR_QS_GAMMA,
    CU_SCR_ATTN,            /* cu_attention_forward's workspace */
    CU_SCR_SCORE_LOGITS,    /* the scoring head's vocabulary chunk */
    CU_SCR_SCORE_STATE,     /* per-row running max, sum, target logit */
    CU_SCR_SCORE_INPUT,     /* the LM head's input rows of one scoring block */
    CU_SCR_TOKENS,          /* the call's token ids and targets */
    CU_SCR_SCORE_NLL,       /* the call's NLLs (doubles), copied to the host once */
    CU_SCR_SHADOW,          /* a shadowed value's bf16 rows (cu_fuse.cu) */
    CU_SCR_COUNT
};

#define CU_PROF_SLOTS 12
#define CU_PROF_SCORE 11

typedef struct cu_session {
    cu_model *cm;
    size_t max_tokens;
    /* rows of the body at most: max_tokens, or a batch of sequences (cu_batch_capacity) */
    size_t max_rows;
    /* the current call's rows per sequence when it holds several (row r at position
     * pos + r mod seq_len, attention per sequence); 0: one sequence */
    size_t seq_len;
    /* ops [0, body_end) run on all the call's rows at once: up to the LM head when the tail
     * is the chunkable "row-wise ops → head → soft-cap/scale" (cm->head), so the last
     * layer's products see every row; else up to the plan's tail_start (cu_fuse.cu) */
    size_t body_end;
    /* pinned host staging of the call's ids and targets (int32) and NLLs (double) */
    void *host_io;
    size_t host_io_bytes;
    cudaStream_t stream;
    cublasHandle_t blas;
    cu_kv *kv;                      /* [n_layers] */
    cu_attn_stats **stats;          /* [n_layers] device [heads] */
    int stats_on;
    /* value buffers: body values live in body_slot[slot_of[v]] ([body_rows][width]); tail
     * values in tail_slot[slot_of[v]] ([tail_rows][width]) (cu_plan.cu) */
    int *slot_of;                   /* [n_values] */
    float **body_slot, **tail_slot;
    size_t *body_width, *tail_width;
    size_t n_body_slots, n_tail_slots, body_rows, tail_rows;
    void *scr[CU_SCR_COUNT];
    size_t scr_bytes[CU_SCR_COUNT];
    float *pinned;                  /* [tail_rows][vocab] host copy for the sink */
    size_t score_chunk;             /* vocabulary columns per scoring GEMM (cu_score.cu) */
    /* what CU_SCR_HALF_IN holds: value half_src's rows at half_ptr, half_count elements of
     * type half_dtype, rounded during cu_run_ops number half_seq (half_src -1: nothing) */
    size_t run_seq, half_seq, half_count;
    const float *half_ptr;
    int half_src, half_dtype;
    /* SPARSA_CUDA_PROFILE (cu_profile.cu): seconds and launches by op kind (the sp_bk_kind
     * value; 0 other, CU_PROF_SCORE the fused scoring head's chunks) */
    int profile;
    /* the attention's precision: the model's, or fp32 with SPARSA_CUDA_ATTN_PRECISION=fp32 (a
     * diagnostic: bf16 GEMMs around fp32 attention and an f32 KV cache) */
    sp_precision attn_prec;
    double prof_seconds[CU_PROF_SLOTS];
    unsigned long long prof_calls[CU_PROF_SLOTS];
} cu_session;

/* One op's run over n rows at absolute positions pos0..pos0+n-1. */
typedef struct cu_exec {
    cu_session *s;
    const sp_bk_op *op;
    const cu_op_dev *dev;
    const float *in[4];
    float *out;
    size_t n, pos0;
    size_t seq_len;                 /* rows per sequence (s->seq_len), 0: one sequence */
    const int32_t *tokens;          /* device, [n] (embed) */
} cu_exec;

/* Grows scratch slot `which` to at least bytes; *p its pointer. */
int cu_scratch(cu_session *s, int which, size_t bytes, void **p, sp_error *err);

/* ---- profile (cu_profile.cu) --------------------------------------------------------------- */

int cu_profile_enabled(void);
double cu_clock(void);                               /* seconds, monotonic */
/* With the profile on: one line naming a start-up step and the time since t0. */
void cu_profile_step(const char *what, double t0);
double cu_profile_now(const cu_session *s);          /* drains the stream first */
void cu_profile_add(cu_session *s, int slot, double t0);
void cu_profile_report(const cu_session *s);

/* ---- plan (cu_plan.cu) -------------------------------------------------------------------- */

/* Assigns values to buffers whose lifetimes do not overlap and allocates the tail's; the
 * body's (values made by ops before s->body_end) grow with the call (cu_plan_body_rows). */
int cu_plan_create(cu_session *s, sp_error *err);
void cu_plan_free(cu_session *s);
int cu_plan_body_rows(cu_session *s, size_t rows, sp_error *err);
/* The buffer of value v at row r0 (tail values: their block buffer, r0 ignored). */
float *cu_plan_value(const cu_session *s, int v, size_t r0);

/* ---- ops (cu_ops_table.cu and the cu_ops_*.cu it lists) ----------------------------------- */

/* 1 if the module runs op (and why not otherwise). */
int cu_op_supported(const sp_bk_op *op, char *why, size_t why_len);
int cu_op_upload(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err);
void cu_op_free(cu_op_dev *dev);
int cu_op_run(cu_exec *ex, sp_error *err);

/* rmsnorm, and the residual add fused with the rmsnorm op norm_op after it (cu_ops_norm.cu). */
int cu_run_rmsnorm(cu_exec *ex, sp_error *err);
int cu_run_add_rmsnorm(cu_exec *add, size_t norm_op, sp_error *err);

/* The fusion plan (cu_fuse.cu), made at open_model after the uploads. */
int cu_fuse_plan(cu_model *cm, sp_error *err);
void cu_fuse_free(cu_model *cm);
/* The bf16 rows of value src at x (a row of its f32 buffer) when src is shadowed, else NULL. */
const void *cu_shadow_rows(const cu_session *s, int src, const float *x);

/* Launchers of the elementwise ops (cu_ops_elementwise.cu). */
int cu_run_embed(cu_exec *ex, sp_error *err);
int cu_run_layernorm(cu_exec *ex, sp_error *err);
int cu_run_rope(cu_exec *ex, sp_error *err);
int cu_run_add(cu_exec *ex, sp_error *err);
/* softcap (y = cap·tanh(x/cap)) and scale (y = f·x) on count floats; x may equal y. */
int cu_run_softcap_n(const float *x, float *y, size_t count, float cap, cudaStream_t st,
                     sp_error *err);
int cu_run_scale_n(const float *x, float *y, size_t count, float f, cudaStream_t st,
                   sp_error *err);
/* y[r][c] += b[c] over rows × cols (y with row stride ldy). */
int cu_add_bias(float *y, size_t rows, size_t cols, size_t ldy, const float *b, cudaStream_t st,
                sp_error *err);

/* GEMMs (cu_ops_gemm.cu): y[m][n] (row stride ldy) = x[m][k] · W[row0..row0+n)ᵀ in the
 * session's precision. x holds rows of value src (an id of the plan's values): in bf16
 * precision its rounded copy is reused by the next product of the same rows in the same
 * cu_run_ops (q/k/v, up/gate and the scoring head's chunks read one input). */
int cu_gemm(cu_session *s, const float *x, int src, size_t m, size_t k, const cu_weight *w,
            size_t row0, size_t n, float *y, size_t ldy, sp_error *err);
/* The MLP's gate and up weights as one stacked product, with bf16 hidden rows: on for bf16
 * precision unless SPARSA_CUDA_MLP_F32 is set (a diagnostic). */
int cu_mlp_gate_up(const cu_model *cm, const sp_bk_op *op);
int cu_run_linear(cu_exec *ex, sp_error *err);
int cu_run_mlp(cu_exec *ex, sp_error *err);

/* The attention op (cu_ops_attention.cu). */
int cu_run_attention(cu_exec *ex, sp_error *err);
int cu_attention_upload(cu_model *cm, const sp_bk_op *op, cu_op_dev *dev, sp_error *err);

/* ---- running a call (cu_exec.cu, cu_score.cu) --------------------------------------------- */

/* Runs ops [first, last) on n rows at pos0 (tail ops: rows r0.. of the call, block buffers). */
int cu_run_ops(cu_session *s, size_t first, size_t last, size_t n, size_t pos0, size_t r0,
               const int32_t *dev_tokens, sp_error *err);
int cu_forward(void *session, const int32_t *tokens, size_t n, size_t pos, size_t logits_from,
               sp_bk_sink sink, void *user, sp_error *err);
int cu_forward_nll(void *session, const int32_t *tokens, size_t n, size_t pos,
                   size_t logits_from, const int32_t *targets, double *nll, sp_error *err);
/* Several sequences per call (sparsa_backend.h, forward_nll_batch; cu_score.cu). */
size_t cu_batch_capacity(void *session, size_t n);
int cu_forward_nll_batch(void *session, const int32_t *tokens, size_t n_seq, size_t n,
                         size_t logits_from, const int32_t *targets, double *nll,
                         sp_error *err);
/* Pinned host staging of at least bytes (s->host_io, grown on demand). */
int cu_host_io(cu_session *s, size_t bytes, sp_error *err);
/* Vocabulary columns per scoring chunk (8192, or $SPARSA_CUDA_SCORE_CHUNK). */
size_t cu_score_chunk(void);
/* Runs the body on tokens (copied to the device; with targets, when not NULL, right after
 * them: CU_SCR_TOKENS holds 2n ids) and leaves their ids in *dev_tokens. */
int cu_run_body(cu_session *s, const int32_t *tokens, const int32_t *targets, size_t n,
                size_t pos, const int32_t **dev_tokens, sp_error *err);

/* Threads per block of the module's own kernels; blocks for count elements. */
#define CU_THREADS 256
static inline unsigned cu_blocks(size_t count) {
    return (unsigned)((count + CU_THREADS - 1) / CU_THREADS);
}
/* Grid y for rows: kernels stride over rows by gridDim.y, so a block takes every 1024th row
 * (a block per row of a 32768-row call spent longer scheduling blocks than moving bytes). */
#define CU_ROW_BLOCKS 1024
static inline unsigned cu_row_blocks(size_t rows) {
    return (unsigned)(rows < CU_ROW_BLOCKS ? (rows ? rows : 1) : CU_ROW_BLOCKS);
}

#endif
