/* cu_score.cu — the fused scoring head (forward_nll): for each scored row, logsumexp(logits) −
 * logit[target] without the logits ever leaving the GPU or existing whole.
 *
 * When the tail is "ops → linear to the vocabulary → softcap/scale ops" (every model sparsa
 * converts), the linear runs in vocabulary chunks: for a block of rows, the ops before the LM
 * head run once, then per chunk of CU_SCORE_CHUNK columns one GEMM [rows × chunk], the ops
 * after the head on the chunk, and an online max / sum-exp per row that also picks the target's
 * logit. Memory is O(block·chunk), never O(window·vocab). Any other tail runs whole per block
 * and is reduced the same way. As eval's sp_nll_of_row, exp of (x − max) in fp32; each lane
 * sums its columns in fp32, the lanes' and the chunks' sums merge in double; a NaN or +inf
 * logit gives a non-finite nll. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cu_internal.h"

/* Vocabulary columns per chunk; SPARSA_CUDA_SCORE_CHUNK overrides it (the tests use a small
 * one so that a small vocabulary takes several chunks and a partial last one). */
#define CU_SCORE_CHUNK 8192

size_t cu_score_chunk(void) {
    const char *env = getenv("SPARSA_CUDA_SCORE_CHUNK");
    long v = env ? strtol(env, NULL, 10) : 0;
    return v > 0 && v <= (1L << 20) ? (size_t)v : CU_SCORE_CHUNK;
}

/* Per row state in CU_SCR_SCORE_STATE: [3][rows] doubles: running max, sum, target logit. */
enum { ST_MAX, ST_SUM, ST_TARGET, ST_COUNT };

__global__ static void state_init(double *st, size_t rows) {
    size_t r = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    st[ST_MAX * rows + r] = -INFINITY;
    st[ST_SUM * rows + r] = 0.0;
    st[ST_TARGET * rows + r] = NAN;
}

/* One block per row: folds columns c0..c0+cw of the row (x + r·ld) into the row's state. */
/* (m, s) ∪ (m2, s2) as one running max and sum of exp(x − max), in double; an empty side (sum
 * 0) adds nothing, a NaN sum stays NaN. */
static __device__ void lse_merge(double *m, double *s, double m2, double s2) {
    double mn = fmax(*m, m2);
    double a = *s == 0.0 ? 0.0 : *s * exp(*m - mn);
    double b = s2 == 0.0 ? 0.0 : s2 * exp(m2 - mn);
    *m = mn;
    *s = a + b;
}

/* One warp per row (CU_THREADS / 32 rows a block), one pass: each lane keeps a running max and
 * sum of exp(x − max) over its columns (fp32, rescaled when the max grows), the lanes merge in
 * double, and lane 0 folds columns c0..c0+cw of the row (x + r·ld) into the row's state and
 * picks the target's logit. A NaN logit makes the sum NaN (never the max), as on the CPU. */
__global__ static void fold_chunk(const float *x, size_t ld, size_t cw, size_t c0,
                                  const int32_t *targets, double *st, size_t rows) {
    size_t r = (size_t)blockIdx.x * (CU_THREADS / 32) + threadIdx.x / 32;
    unsigned lane = threadIdx.x & 31;
    if (r >= rows) return;
    const float *row = x + r * ld;
    float m = -INFINITY, s = 0.0f;
    for (size_t c = lane; c < cw; c += 32) {
        float v = row[c];
        if (v > m) {
            s = s * expf(m - v) + 1.0f;  /* s is 0 while m is −inf */
            m = v;
        } else {
            s += expf(v - m);
        }
    }
    double dm = m, ds = s;
    for (int o = 16; o > 0; o >>= 1) {
        double m2 = __shfl_down_sync(0xffffffffu, dm, o), s2 = __shfl_down_sync(0xffffffffu, ds, o);
        lse_merge(&dm, &ds, m2, s2);
    }
    if (lane) return;
    double gm = st[ST_MAX * rows + r], gs = st[ST_SUM * rows + r];
    lse_merge(&gm, &gs, dm, ds);
    st[ST_MAX * rows + r] = gm;
    st[ST_SUM * rows + r] = gs;
    size_t t = (size_t)targets[r];
    if (t >= c0 && t < c0 + cw) st[ST_TARGET * rows + r] = row[t - c0];
}

static unsigned fold_blocks(size_t rows) {
    return (unsigned)((rows + CU_THREADS / 32 - 1) / (CU_THREADS / 32));
}

/* nll[r] of the block's rows into the call's device NLLs. */
__global__ static void state_finish(const double *st, size_t rows, double *nll) {
    size_t r = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    nll[r] = st[ST_MAX * rows + r] + log(st[ST_SUM * rows + r]) - st[ST_TARGET * rows + r];
}

/* The ops after the head on a chunk [nb][cw], in place. */
static int post_ops(cu_session *s, size_t head, float *chunk, size_t count, sp_error *err) {
    const sp_bk_model *m = s->cm->m;
    int rc = SP_OK;
    for (size_t j = head + 1; !rc && j < m->n_ops; j++) {
        const sp_bk_op *p = &m->ops[j];
        rc = p->kind == SP_BK_SOFTCAP
                 ? cu_run_softcap_n(chunk, chunk, count, p->u.scalar.value, s->stream, err)
                 : cu_run_scale_n(chunk, chunk, count, p->u.scalar.value, s->stream, err);
    }
    return rc;
}

/* Folds the logits of rows r0..r0+nb into st: through the head in chunks, or whole. */
static int fold_block(cu_session *s, long head, const int32_t *dev_tok, const int32_t *dev_tgt,
                      size_t pos, size_t r0, size_t nb, double *st, sp_error *err) {
    const sp_bk_model *m = s->cm->m;
    size_t vocab = m->values[m->out_value].width;
    if (head < 0) {
        int rc = cu_run_ops(s, s->body_end, m->n_ops, nb, pos + r0, r0, dev_tok, err);
        if (!rc) fold_chunk<<<fold_blocks(nb), CU_THREADS, 0, s->stream>>>(
            cu_plan_value(s, m->out_value, r0), vocab, vocab, 0, dev_tgt + r0, st, nb);
        return rc;
    }
    const sp_bk_op *hop = &m->ops[head];
    const cu_op_dev *hdev = &s->cm->dev[head];
    /* the head's input rows are the body's (s->body_end is the head): read in place */
    int src = hop->in[0];
    const float *x = cu_plan_value(s, src, r0);
    void *chunk;
    size_t step = s->score_chunk;
    s->run_seq++;  /* these rows' rounded copy is made once for all the chunks */
    int rc = cu_scratch(s, CU_SCR_SCORE_LOGITS, nb * step * sizeof(float), &chunk, err);
    double t0 = s->profile ? cu_profile_now(s) : 0;
    for (size_t c0 = 0; !rc && c0 < vocab; c0 += step) {
        size_t cw = vocab - c0 < step ? vocab - c0 : step;
        float *y = (float *)chunk;
        rc = cu_gemm(s, x, src, nb, hop->in_width[0], &hdev->w[0], c0, cw, y, cw, err);
        if (!rc && hdev->vec[0]) rc = cu_add_bias(y, nb, cw, cw, hdev->vec[0] + c0, s->stream, err);
        if (!rc) rc = post_ops(s, (size_t)head, y, nb * cw, err);
        if (!rc) fold_chunk<<<fold_blocks(nb), CU_THREADS, 0, s->stream>>>(y, cw, cw, c0,
                                                                         dev_tgt + r0, st, nb);
    }
    if (s->profile) cu_profile_add(s, CU_PROF_SCORE, t0);
    return rc;
}

/* Rows per scoring block: the tail's blocks without a chunkable head; with one, up to
 * CU_SCORE_ROWS (or $SPARSA_CUDA_SCORE_ROWS, for measurements) while a chunk of logits stays
 * within 2^26 floats (256 MB). 512 rows of 8192 columns (16 MB) stay in an H200's L2 between
 * the product that writes them and the fold that reads them (measured: 2048 rows were slower). */
#define CU_SCORE_ROWS 512
static size_t score_rows(const cu_session *s, long head) {
    if (head < 0) return s->tail_rows;
    const char *env = getenv("SPARSA_CUDA_SCORE_ROWS");
    long want = env ? strtol(env, NULL, 10) : 0;
    size_t rows = ((size_t)1 << 26) / s->score_chunk, cap = CU_SCORE_ROWS;
    if (want > 0 && want <= (1L << 20)) cap = (size_t)want;
    rows = rows > cap ? cap : rows;
    return rows < s->tail_rows ? s->tail_rows : rows;
}

/* Rows [r0, r0 + count) of the call scored block by block into dev_nll[0 .. count). */
static int score_range(cu_session *s, long head, const int32_t *dev_tok, const int32_t *dev_tgt,
                       size_t pos, size_t r0, size_t count, double *st, double *dev_nll,
                       sp_error *err) {
    size_t rows = score_rows(s, head);
    int rc = SP_OK;
    for (size_t b0 = r0; !rc && b0 < r0 + count; b0 += rows) {
        size_t nb = r0 + count - b0 < rows ? r0 + count - b0 : rows;
        state_init<<<cu_blocks(nb), CU_THREADS, 0, s->stream>>>(st, nb);
        rc = fold_block(s, head, dev_tok, dev_tgt, pos, b0, nb, st, err);
        if (rc) break;
        state_finish<<<cu_blocks(nb), CU_THREADS, 0, s->stream>>>(st, nb, dev_nll + (b0 - r0));
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) rc = cu_fail_cuda(err, e, "scoring", 0);
    }
    return rc;
}

/* n_seq sequences of n rows (one at pos, or several from position 0 each: s->seq_len): the
 * body on every row, then the scored rows of each sequence; the NLLs reach the host in one
 * copy at the end, the only wait of the call. */
static int score_call(cu_session *s, const int32_t *tokens, size_t n_seq, size_t n, size_t pos,
                      size_t logits_from, const int32_t *targets, double *nll, sp_error *err) {
    size_t total = n_seq * n, per_seq = n - logits_from, scored = n_seq * per_seq;
    cudaSetDevice(s->cm->device);
    const int32_t *dev_tok = NULL;
    s->seq_len = n_seq > 1 ? n : 0;
    int rc = cu_run_body(s, tokens, targets, total, pos, &dev_tok, err);
    s->seq_len = 0;
    if (rc) return rc;
    const int32_t *dev_tgt = dev_tok + total;
    long head = s->cm->head;
    void *stv = NULL, *nv = NULL;
    rc = cu_scratch(s, CU_SCR_SCORE_STATE, ST_COUNT * score_rows(s, head) * sizeof(double), &stv,
                    err);
    if (!rc) rc = cu_scratch(s, CU_SCR_SCORE_NLL, scored * sizeof(double), &nv, err);
    /* logits_from 0: the sequences' rows are contiguous, scored as one range */
    if (!rc && logits_from == 0)
        rc = score_range(s, head, dev_tok, dev_tgt, pos, 0, total, (double *)stv, (double *)nv,
                         err);
    for (size_t b = 0; !rc && logits_from && b < n_seq; b++)
        rc = score_range(s, head, dev_tok, dev_tgt, pos, b * n + logits_from, per_seq,
                         (double *)stv, (double *)nv + b * per_seq, err);
    /* the ids were copied from the staging buffer earlier on this stream */
    if (!rc) rc = cu_host_io(s, scored * sizeof(double), err);
    if (rc) return rc;
    cudaError_t e = cudaMemcpyAsync(s->host_io, nv, scored * sizeof(double),
                                    cudaMemcpyDeviceToHost, s->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s->stream);
    if (e != cudaSuccess) return cu_fail_cuda(err, e, "scoring", 0);
    memcpy(nll, s->host_io, scored * sizeof(double));
    return SP_OK;
}

int cu_forward_nll(void *session, const int32_t *tokens, size_t n, size_t pos,
                   size_t logits_from, const int32_t *targets, double *nll, sp_error *err) {
    if (n == 0) return SP_OK;
    /* no row scored still runs the body: the KV cache takes the tokens */
    return score_call((cu_session *)session, tokens, 1, n, pos, logits_from < n ? logits_from : n,
                      targets, nll, err);
}

/* Rows of activations one batched call may hold (SPARSA_CUDA_BATCH_ROWS overrides it): enough
 * for tall products, few enough that the activations stay within some hundreds of MB. */
#define CU_BATCH_ROWS 32768

size_t cu_batch_capacity(void *session, size_t n) {
    cu_session *s = (cu_session *)session;
    const char *env = getenv("SPARSA_CUDA_BATCH_ROWS");
    long v = env ? strtol(env, NULL, 10) : 0;
    size_t budget = v > 0 && v <= (1L << 24) ? (size_t)v : CU_BATCH_ROWS;
    if (!n || n > s->max_tokens) return 1;
    size_t cap = budget / n;
    return cap ? cap : 1;
}

int cu_forward_nll_batch(void *session, const int32_t *tokens, size_t n_seq, size_t n,
                         size_t logits_from, const int32_t *targets, double *nll,
                         sp_error *err) {
    cu_session *s = (cu_session *)session;
    if (n_seq == 0 || n == 0) return SP_OK;
    if (logits_from > n) logits_from = n;
    if (n_seq > cu_batch_capacity(s, n))
        return sp_fail(err, SP_ERR_INPUT, "%zu sequences of %zu tokens: more than the batch of "
                       "%zu", n_seq, n, cu_batch_capacity(s, n));
    if (n_seq * n > s->max_rows) s->max_rows = n_seq * n;
    return score_call(s, tokens, n_seq, n, 0, logits_from, targets, nll, err);
}
