/* cu_exec.cu — running one call on the GPU: the body ops (up to the LM head, or the last
 * attention op; cu_fuse.cu) on all the call's rows, fused pairs as one kernel, then the logits
 * tail in blocks of rows whose logits go to the host sink through a pinned buffer (the CPU's
 * sp_session_forward, interpreter/session.c). The call's ids come through pinned staging too.
 * Every op runs on the session's stream; the host waits only for each block's copy. */
#include <string.h>

#include "cu_internal.h"

int cu_run_ops(cu_session *s, size_t first, size_t last, size_t n, size_t pos0, size_t r0,
               const int32_t *dev_tokens, sp_error *err) {
    const sp_bk_model *m = s->cm->m;
    s->run_seq++;  /* value ids name new rows from here on (cu_gemm's rounded input) */
    const unsigned char *run_as = s->cm->run_as;
    for (size_t i = first; i < last; i++) {
        const sp_bk_op *op = &m->ops[i];
        /* an add fused with the norm after it runs both (cu_fuse.cu) */
        int fused = run_as && run_as[i] == CU_RUN_ADD_NORM && i + 1 < last;
        if (run_as && run_as[i] == CU_RUN_FUSED && i > first) continue;
        cu_exec ex = {};
        ex.s = s;
        ex.op = op;
        ex.dev = &s->cm->dev[i];
        for (int j = 0; j < op->n_in && j < 4; j++)
            ex.in[j] = op->in[j] >= 0 ? cu_plan_value(s, op->in[j], r0) : NULL;
        ex.out = cu_plan_value(s, op->out, r0);
        ex.n = n;
        ex.pos0 = pos0;
        ex.seq_len = s->seq_len;
        ex.tokens = dev_tokens + r0;
        double t0 = s->profile ? cu_profile_now(s) : 0;
        int rc = fused ? cu_run_add_rmsnorm(&ex, i + 1, err) : cu_op_run(&ex, err);
        if (rc) return rc;
        if (s->profile) cu_profile_add(s, (int)op->kind, t0);
    }
    return SP_OK;
}

int cu_host_io(cu_session *s, size_t bytes, sp_error *err) {
    if (bytes <= s->host_io_bytes) return SP_OK;
    cudaStreamSynchronize(s->stream);  /* a copy may still read the old buffer */
    if (s->host_io) cudaFreeHost(s->host_io);
    s->host_io = NULL;
    s->host_io_bytes = 0;
    cudaError_t e = cudaMallocHost(&s->host_io, bytes);
    if (e != cudaSuccess) {
        s->host_io = NULL;
        return cu_fail_cuda(err, e, "the host staging buffer", bytes);
    }
    s->host_io_bytes = bytes;
    return SP_OK;
}

/* The ids (and targets) go through pinned memory in one asynchronous copy: a copy from
 * pageable memory would wait for the stream first. */
int cu_run_body(cu_session *s, const int32_t *tokens, const int32_t *targets, size_t n,
                size_t pos, const int32_t **dev_tokens, sp_error *err) {
    void *tok;
    size_t ids = targets ? 2 * n : n, bytes = ids * sizeof(int32_t);
    int rc = cu_plan_body_rows(s, n, err);
    if (!rc) rc = cu_scratch(s, CU_SCR_TOKENS, 2 * n * sizeof(int32_t), &tok, err);
    if (!rc) rc = cu_host_io(s, bytes, err);
    if (rc) return rc;
    int32_t *stage = (int32_t *)s->host_io;
    memcpy(stage, tokens, n * sizeof(int32_t));
    if (targets) memcpy(stage + n, targets, n * sizeof(int32_t));
    cudaError_t e = cudaMemcpyAsync(tok, stage, bytes, cudaMemcpyHostToDevice, s->stream);
    if (e != cudaSuccess) return cu_fail_cuda(err, e, "copying token ids", 0);
    *dev_tokens = (const int32_t *)tok;
    return cu_run_ops(s, 0, s->body_end, n, pos, 0, *dev_tokens, err);
}

/* Runs the tail on rows r0..r0+nb and copies their logits to the pinned buffer. */
static int tail_block(cu_session *s, const int32_t *dev_tokens, size_t pos, size_t r0,
                      size_t nb, sp_error *err) {
    const sp_bk_model *m = s->cm->m;
    int rc = cu_run_ops(s, s->body_end, m->n_ops, nb, pos + r0, r0, dev_tokens, err);
    if (rc) return rc;
    size_t vocab = m->values[m->out_value].width;
    const float *logits = cu_plan_value(s, m->out_value, r0);
    cudaError_t e = cudaMemcpyAsync(s->pinned, logits, nb * vocab * sizeof(float),
                                    cudaMemcpyDeviceToHost, s->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s->stream);
    return e == cudaSuccess ? SP_OK : cu_fail_cuda(err, e, "computing logits", 0);
}

static int ensure_pinned(cu_session *s, sp_error *err) {
    if (s->pinned) return SP_OK;
    size_t bytes = s->tail_rows * s->cm->m->values[s->cm->m->out_value].width * sizeof(float);
    cudaError_t e = cudaMallocHost((void **)&s->pinned, bytes);
    if (e != cudaSuccess) {
        s->pinned = NULL;
        return cu_fail_cuda(err, e, "the host logits buffer", bytes);
    }
    return SP_OK;
}

int cu_forward(void *session, const int32_t *tokens, size_t n, size_t pos, size_t logits_from,
               sp_bk_sink sink, void *user, sp_error *err) {
    cu_session *s = (cu_session *)session;
    if (n == 0) return SP_OK;
    cudaSetDevice(s->cm->device);
    const int32_t *dev_tokens;
    int rc = cu_run_body(s, tokens, NULL, n, pos, &dev_tokens, err);
    if (!rc && sink) rc = ensure_pinned(s, err);
    for (size_t r0 = logits_from; !rc && sink && r0 < n; r0 += s->tail_rows) {
        size_t nb = n - r0 < s->tail_rows ? n - r0 : s->tail_rows;
        rc = tail_block(s, dev_tokens, pos, r0, nb, err);
        if (!rc && sink(user, r0, nb, s->pinned)) {
            if (err && err->code) return err->code;
            return sp_fail(err, SP_ERR_RUNTIME, "the logits consumer stopped the forward");
        }
    }
    if (rc) return rc;
    cudaError_t e = cudaStreamSynchronize(s->stream);
    return e == cudaSuccess ? SP_OK : cu_fail_cuda(err, e, "forward", 0);
}
