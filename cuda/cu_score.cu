/* cu_score.cu — the fused scoring head (forward_nll): for each scored row, logsumexp(logits) −
 * logit[target] without the logits ever leaving the GPU or existing whole.
 *
 * When the tail is "ops → linear to the vocabulary → softcap/scale ops" (every model sparsa
 * converts), the linear runs in vocabulary chunks: for a block of rows, the ops before the LM
 * head run once, then per chunk of CU_SCORE_CHUNK columns one GEMM [rows × chunk], the ops
 * after the head on the chunk, and an online max / sum-exp per row that also picks the target's
 * logit. Memory is O(block·chunk), never O(window·vocab). Any other tail runs whole per block
 * and is reduced the same way. As eval's sp_nll_of_row: exp of (x − max) in fp32, sums in
 * double, the chunks' sums rescaled in double; a NaN or +inf logit gives a non-finite nll. */
#include <math.h>
#include <stdlib.h>

#include "cu_internal.h"

/* Vocabulary columns per chunk; SPARSA_CUDA_SCORE_CHUNK overrides it (the tests use a small
 * one so that a small vocabulary takes several chunks and a partial last one). */
#define CU_SCORE_CHUNK 8192

size_t cu_score_chunk(void) {
    const char *env = getenv("SPARSA_CUDA_SCORE_CHUNK");
    long v = env ? strtol(env, NULL, 10) : 0;
    return v > 0 && v <= (1L << 20) ? (size_t)v : CU_SCORE_CHUNK;
}

/* Per row state in CU_SCR_SCORE_STATE: [4][rows] doubles: running max, sum, target logit,
 * nll. */
enum { ST_MAX, ST_SUM, ST_TARGET, ST_NLL, ST_COUNT };

static __device__ float block_max(float v) {
    __shared__ float part[CU_THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    float r = part[0];
    for (int i = 1; i < CU_THREADS / 32; i++) r = fmaxf(r, part[i]);
    __syncthreads();
    return r;
}

static __device__ double block_sum(double v) {
    __shared__ double part[CU_THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    double r = 0;
    for (int i = 0; i < CU_THREADS / 32; i++) r += part[i];
    __syncthreads();
    return r;
}

__global__ static void state_init(double *st, size_t rows) {
    size_t r = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    st[ST_MAX * rows + r] = -INFINITY;
    st[ST_SUM * rows + r] = 0.0;
    st[ST_TARGET * rows + r] = NAN;
}

/* One block per row: folds columns c0..c0+cw of the row (x + r·ld) into the row's state. */
__global__ static void fold_chunk(const float *x, size_t ld, size_t cw, size_t c0,
                                  const int32_t *targets, double *st, size_t rows) {
    size_t r = blockIdx.x;
    const float *row = x + r * ld;
    float mx = -INFINITY;
    for (size_t c = threadIdx.x; c < cw; c += blockDim.x)
        if (row[c] > mx) mx = row[c];  /* NaN never wins, as on the CPU; it reaches the sum */
    mx = block_max(mx);
    double sum = 0;
    for (size_t c = threadIdx.x; c < cw; c += blockDim.x) sum += (double)expf(row[c] - mx);
    sum = block_sum(sum);
    if (threadIdx.x) return;
    double m_old = st[ST_MAX * rows + r], s_old = st[ST_SUM * rows + r];
    double m_new = fmax(m_old, (double)mx);
    double a = s_old == 0.0 ? 0.0 : s_old * exp(m_old - m_new);
    double b = sum == 0.0 ? 0.0 : sum * exp((double)mx - m_new);
    st[ST_MAX * rows + r] = m_new;
    st[ST_SUM * rows + r] = a + b;
    size_t t = (size_t)targets[r];
    if (t >= c0 && t < c0 + cw) st[ST_TARGET * rows + r] = row[t - c0];
}

__global__ static void state_finish(double *st, size_t rows) {
    size_t r = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    st[ST_NLL * rows + r] = st[ST_MAX * rows + r] + log(st[ST_SUM * rows + r]) -
                            st[ST_TARGET * rows + r];
}

/* The LM head of the tail when the tail has the chunkable shape, else -1. */
static long find_head(const sp_bk_model *m) {
    size_t vocab = m->values[m->out_value].width;
    for (size_t i = m->tail_start; i < m->n_ops; i++) {
        const sp_bk_op *op = &m->ops[i];
        if (op->kind != SP_BK_LINEAR || op->out_width != vocab) continue;
        int prev = op->out;
        for (size_t j = i + 1; j < m->n_ops; j++) {
            const sp_bk_op *p = &m->ops[j];
            if ((p->kind != SP_BK_SOFTCAP && p->kind != SP_BK_SCALE) || p->in[0] != prev) return -1;
            prev = p->out;
        }
        return prev == m->out_value ? (long)i : -1;
    }
    return -1;
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

/* The LM head's input for rows r0..r0+nb: the ops before the head run in blocks of the
 * tail's rows, their result gathered into CU_SCR_SCORE_INPUT so the head's GEMMs see all nb
 * rows at once (taller products than the tail's blocks). *src: the rows' id for cu_gemm. */
static int head_input(cu_session *s, size_t head, const int32_t *dev_tok, size_t pos, size_t r0,
                      size_t nb, const float **x, int *src, sp_error *err) {
    const sp_bk_model *m = s->cm->m;
    const sp_bk_op *hop = &m->ops[head];
    size_t d = hop->in_width[0];
    s->run_seq++;  /* new rows under the same ids */
    *src = hop->in[0];
    if (m->tail_start == head) {
        *x = cu_plan_value(s, hop->in[0], r0);
        return SP_OK;
    }
    void *buf;
    int rc = cu_scratch(s, CU_SCR_SCORE_INPUT, nb * d * sizeof(float), &buf, err);
    for (size_t b0 = r0; !rc && b0 < r0 + nb; b0 += s->tail_rows) {
        size_t bn = r0 + nb - b0 < s->tail_rows ? r0 + nb - b0 : s->tail_rows;
        rc = cu_run_ops(s, m->tail_start, head, bn, pos + b0, b0, dev_tok, err);
        cudaError_t e = rc ? cudaSuccess
                           : cudaMemcpyAsync((float *)buf + (b0 - r0) * d,
                                             cu_plan_value(s, hop->in[0], b0),
                                             bn * d * sizeof(float), cudaMemcpyDeviceToDevice,
                                             s->stream);
        if (e != cudaSuccess) rc = cu_fail_cuda(err, e, "gathering the LM head's input", 0);
    }
    s->run_seq++;
    *x = (const float *)buf;
    *src = (int)m->n_values;  /* no value has this id: the gathered rows */
    return rc;
}

/* Folds the logits of rows r0..r0+nb into st: through the head in chunks, or whole. */
static int fold_block(cu_session *s, long head, const int32_t *dev_tok, const int32_t *dev_tgt,
                      size_t pos, size_t r0, size_t nb, double *st, sp_error *err) {
    const sp_bk_model *m = s->cm->m;
    size_t vocab = m->values[m->out_value].width;
    if (head < 0) {
        int rc = cu_run_ops(s, m->tail_start, m->n_ops, nb, pos + r0, r0, dev_tok, err);
        if (!rc) fold_chunk<<<(unsigned)nb, CU_THREADS, 0, s->stream>>>(
            cu_plan_value(s, m->out_value, r0), vocab, vocab, 0, dev_tgt + r0, st, nb);
        return rc;
    }
    const sp_bk_op *hop = &m->ops[head];
    const cu_op_dev *hdev = &s->cm->dev[head];
    const float *x = NULL;
    int src;
    void *chunk;
    size_t step = s->score_chunk;
    int rc = head_input(s, (size_t)head, dev_tok, pos, r0, nb, &x, &src, err);
    if (!rc) rc = cu_scratch(s, CU_SCR_SCORE_LOGITS, nb * step * sizeof(float), &chunk, err);
    double t0 = s->profile ? cu_profile_now(s) : 0;
    for (size_t c0 = 0; !rc && c0 < vocab; c0 += step) {
        size_t cw = vocab - c0 < step ? vocab - c0 : step;
        float *y = (float *)chunk;
        rc = cu_gemm(s, x, src, nb, hop->in_width[0], &hdev->w[0], c0, cw, y, cw, err);
        if (!rc && hdev->vec[0]) rc = cu_add_bias(y, nb, cw, cw, hdev->vec[0] + c0, s->stream, err);
        if (!rc) rc = post_ops(s, (size_t)head, y, nb * cw, err);
        if (!rc) fold_chunk<<<(unsigned)nb, CU_THREADS, 0, s->stream>>>(y, cw, cw, c0,
                                                                         dev_tgt + r0, st, nb);
    }
    if (s->profile) cu_profile_add(s, CU_PROF_SCORE, t0);
    return rc;
}

/* Rows per scoring block: the tail's blocks without a chunkable head; with one, up to
 * CU_SCORE_ROWS while a chunk of logits stays within 2^26 floats (256 MB). */
#define CU_SCORE_ROWS 2048
static size_t score_rows(const cu_session *s, long head) {
    if (head < 0) return s->tail_rows;
    size_t rows = ((size_t)1 << 26) / s->score_chunk;
    rows = rows > CU_SCORE_ROWS ? CU_SCORE_ROWS : rows;
    return rows < s->tail_rows ? s->tail_rows : rows;
}

int cu_forward_nll(void *session, const int32_t *tokens, size_t n, size_t pos,
                   size_t logits_from, const int32_t *targets, double *nll, sp_error *err) {
    cu_session *s = (cu_session *)session;
    if (n == 0) return SP_OK;
    cudaSetDevice(s->cm->device);
    const int32_t *dev_tok = NULL;
    int rc = cu_run_body(s, tokens, n, pos, &dev_tok, err);
    if (rc) return rc;
    const int32_t *dev_tgt = dev_tok + n;  /* CU_SCR_TOKENS holds 2n ids */
    cudaError_t e = cudaMemcpyAsync((void *)dev_tgt, targets, n * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, s->stream);
    if (e != cudaSuccess) return cu_fail_cuda(err, e, "copying targets", 0);
    long head = find_head(s->cm->m);
    size_t rows = score_rows(s, head);
    void *stv = NULL;
    rc = cu_scratch(s, CU_SCR_SCORE_STATE, ST_COUNT * rows * sizeof(double), &stv, err);
    double *st = (double *)stv;
    for (size_t r0 = logits_from; !rc && r0 < n; r0 += rows) {
        size_t nb = n - r0 < rows ? n - r0 : rows;
        state_init<<<cu_blocks(nb), CU_THREADS, 0, s->stream>>>(st, nb);
        rc = fold_block(s, head, dev_tok, dev_tgt, pos, r0, nb, st, err);
        if (rc) break;
        state_finish<<<cu_blocks(nb), CU_THREADS, 0, s->stream>>>(st, nb);
        e = cudaMemcpyAsync(nll + (r0 - logits_from), st + ST_NLL * nb, nb * sizeof(double),
                            cudaMemcpyDeviceToHost, s->stream);
        if (e == cudaSuccess) e = cudaGetLastError();
        if (e != cudaSuccess) rc = cu_fail_cuda(err, e, "scoring", 0);
    }
    if (rc) return rc;
    e = cudaStreamSynchronize(s->stream);
    return e == cudaSuccess ? SP_OK : cu_fail_cuda(err, e, "scoring", 0);
}
