/* cu_module.cu — libsparsa-cuda.so's entry: the backend vtable (sparsa_backend.h) and the
 * lifetimes it manages. open_model picks the GPU, refuses an op or normaliser without a CUDA
 * kernel, and uploads every weight once; a session owns one stream, one cuBLAS handle, the KV
 * caches (cu_attention.h), the attention statistics and the value buffers (cu_plan.cu). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_internal.h"

static void free_model(void *model) {
    cu_model *cm = (cu_model *)model;
    if (!cm) return;
    cudaSetDevice(cm->device);
    for (size_t i = 0; cm->dev && i < cm->m->n_ops; i++) cu_op_free(&cm->dev[i]);
    free(cm->dev);
    cu_fuse_free(cm);
    free(cm);
}

static int check_ops(const sp_bk_model *m, sp_error *err) {
    char why[300];
    for (size_t i = 0; i < m->n_ops; i++)
        if (!cu_op_supported(&m->ops[i], why, sizeof why))
            return sp_fail(err, SP_ERR_INPUT, "--device cuda: node '%s': %s", m->ops[i].name, why);
    return SP_OK;
}

static void say_device(const cu_model *cm) {
    cudaDeviceProp prop;
    size_t free_b = 0, total_b = 0;
    if (cudaGetDeviceProperties(&prop, cm->device) != cudaSuccess) return;
    cudaMemGetInfo(&free_b, &total_b);
    fprintf(stderr, "sparsa: cuda:%d %s, weights %.1f MiB on the GPU, %.1f of %.1f GiB free\n",
            cm->device, prop.name, (double)cm->weight_bytes / (1 << 20),
            (double)free_b / (1 << 30), (double)total_b / (1 << 30));
}

static int open_model(const sp_bk_model *m, const sp_bk_config *cfg, void **model,
                      sp_error *err) {
    *model = NULL;
    if (m->abi != SP_BACKEND_ABI)
        return sp_fail(err, SP_ERR_INPUT, "the CUDA module was built for backend ABI %d, the "
                       "model description has %d", SP_BACKEND_ABI, m->abi);
    int prof = cu_profile_enabled();
    double t0 = cu_clock();
    int device, rc = cu_select_device(cfg, &device, err);
    if (prof) cu_profile_step("open: select the GPU", t0);
    if (!rc) rc = check_ops(m, err);
    if (rc) return rc;
    cu_model *cm = (cu_model *)calloc(1, sizeof *cm);
    if (!cm) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    cm->m = m;
    cm->device = device;
    cm->prec = cfg->precision;
    cm->verbose = cfg->verbose;
    cm->dev = (cu_op_dev *)calloc(m->n_ops + 1, sizeof *cm->dev);
    if (!cm->dev) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    size_t free_before = 0, free_after = 0, total = 0;
    cudaMemGetInfo(&free_before, &total);
    t0 = cu_clock();
    for (size_t i = 0; !rc && i < m->n_ops; i++)
        rc = cu_op_upload(cm, &m->ops[i], &cm->dev[i], err);
    if (prof) cu_profile_step("open: upload the weights", t0);
    if (!rc) rc = cu_fuse_plan(cm, err);
    if (rc) {
        free_model(cm);
        return rc;
    }
    cudaMemGetInfo(&free_after, &total);
    cm->weight_bytes = free_before > free_after ? free_before - free_after : 0;
    if (cm->verbose) say_device(cm);
    *model = cm;
    return SP_OK;
}

/* With SPARSA_VERBOSE: the session's device memory at its end, which is its peak (buffers
 * only grow). */
static void say_session_memory(const cu_session *s) {
    const sp_bk_model *m = s->cm->m;
    double kv = 0, act = 0, scr = 0, mib = 1 << 20;
    for (size_t l = 0; s->kv && l < m->n_layers; l++)
        kv += (double)s->kv[l].max_tokens * s->kv[l].kv_heads *
              (s->kv[l].head_dim + s->kv[l].value_dim) * (s->kv[l].bf16 ? 2 : 4);
    for (size_t i = 0; s->body_width && i < s->n_body_slots; i++)
        act += (double)s->body_rows * s->body_width[i] * 4;
    for (size_t i = 0; s->tail_width && i < s->n_tail_slots; i++)
        act += (double)s->tail_rows * s->tail_width[i] * 4;
    for (int i = 0; i < CU_SCR_COUNT; i++) scr += (double)s->scr_bytes[i];
    fprintf(stderr, "sparsa: cuda:%d session of %zu tokens: peak %.1f MiB on the GPU (KV cache "
            "%.1f, activations %.1f, scratch %.1f) besides the weights\n", s->cm->device,
            s->max_tokens, (kv + act + scr) / mib, kv / mib, act / mib, scr / mib);
}

static void session_free(void *session) {
    cu_session *s = (cu_session *)session;
    if (!s) return;
    if (s->cm->verbose) say_session_memory(s);
    if (s->profile) cu_profile_report(s);
    const sp_bk_model *m = s->cm->m;
    cudaSetDevice(s->cm->device);
    if (s->stream) cudaStreamSynchronize(s->stream);
    for (size_t l = 0; s->kv && l < m->n_layers; l++) cu_kv_free(&s->kv[l]);
    for (size_t l = 0; s->stats && l < m->n_layers; l++)
        if (s->stats[l]) cudaFree(s->stats[l]);
    free(s->kv);
    free(s->stats);
    cu_plan_free(s);
    if (s->pinned) cudaFreeHost(s->pinned);
    if (s->host_io) cudaFreeHost(s->host_io);
    if (s->blas) cublasDestroy(s->blas);
    if (s->stream) cudaStreamDestroy(s->stream);
    free(s);
}

/* Each layer's KV cache and statistics, by its attention op. */
static int layers_create(cu_session *s, sp_error *err) {
    const sp_bk_model *m = s->cm->m;
    s->kv = (cu_kv *)calloc(m->n_layers + 1, sizeof *s->kv);
    s->stats = (cu_attn_stats **)calloc(m->n_layers + 1, sizeof *s->stats);
    if (!s->kv || !s->stats) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < m->n_ops; i++) {
        const sp_bk_op *op = &m->ops[i];
        if (op->kind != SP_BK_ATTENTION || op->layer < 0 || (size_t)op->layer >= m->n_layers)
            continue;
        cu_kv *kv = &s->kv[op->layer];
        cudaError_t e = cu_kv_alloc(kv, &op->u.attn, s->max_tokens, s->attn_prec == SP_PREC_BF16);
        const sp_bk_attention *a = &op->u.attn;
        size_t kv_bytes = s->max_tokens * (size_t)a->kv_heads *
                          (size_t)(a->head_dim + a->value_dim) *
                          (s->attn_prec == SP_PREC_BF16 ? 2 : 4);
        if (e != cudaSuccess) return cu_fail_cuda(err, e, "the KV cache", kv_bytes);
        size_t sb = (size_t)op->u.attn.heads * sizeof(cu_attn_stats);
        int rc = cu_alloc((void **)&s->stats[op->layer], sb, "attention statistics", err);
        if (rc) return rc;
        if ((e = cudaMemset(s->stats[op->layer], 0, sb)) != cudaSuccess)
            return cu_fail_cuda(err, e, "attention statistics", 0);
    }
    return SP_OK;
}

static int session_create(void *model, size_t max_tokens, void **session, sp_error *err) {
    cu_model *cm = (cu_model *)model;
    *session = NULL;
    cudaSetDevice(cm->device);
    cu_session *s = (cu_session *)calloc(1, sizeof *s);
    if (!s) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    s->cm = cm;
    s->max_tokens = max_tokens ? max_tokens : 1;
    s->max_rows = s->max_tokens;
    s->score_chunk = cu_score_chunk();
    s->half_src = -1;
    s->profile = cu_profile_enabled();
    const char *ap = getenv("SPARSA_CUDA_ATTN_PRECISION");
    s->attn_prec = ap && !strcmp(ap, "fp32") ? SP_PREC_FP32 : cm->prec;
    int rc = SP_OK;
    double t0 = cu_clock();
    cudaError_t e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) rc = cu_fail_cuda(err, e, "creating a stream", 0);
    cublasStatus_t st = rc ? CUBLAS_STATUS_SUCCESS : cublasCreate(&s->blas);
    if (st != CUBLAS_STATUS_SUCCESS) rc = cu_fail_cublas(err, st, "creating a handle");
    if (!rc) st = cublasSetStream(s->blas, s->stream);
    if (!rc && st == CUBLAS_STATUS_SUCCESS) st = cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH);
    if (!rc && st != CUBLAS_STATUS_SUCCESS) rc = cu_fail_cublas(err, st, "configuring a handle");
    if (s->profile) cu_profile_step("session: stream and cuBLAS", t0);
    t0 = cu_clock();
    if (!rc) rc = layers_create(s, err);
    if (!rc) rc = cu_plan_create(s, err);
    if (s->profile) cu_profile_step("session: KV cache, buffers", t0);
    if (rc) {
        session_free(s);
        return rc;
    }
    *session = s;
    return SP_OK;
}

/* The KV cache needs no clearing: the caller's position says which rows are valid. */
static void session_reset(void *session) { (void)session; }

static void stats_enable(void *session, int on) { ((cu_session *)session)->stats_on = on; }

static void stats_reset(void *session) {
    cu_session *s = (cu_session *)session;
    const sp_bk_model *m = s->cm->m;
    cudaSetDevice(s->cm->device);
    cudaStreamSynchronize(s->stream);
    for (size_t i = 0; i < m->n_ops; i++) {
        const sp_bk_op *op = &m->ops[i];
        if (op->kind == SP_BK_ATTENTION && op->layer >= 0 && s->stats[op->layer])
            cudaMemset(s->stats[op->layer], 0, (size_t)op->u.attn.heads * sizeof(cu_attn_stats));
    }
}

static int stats_read(void *session, size_t layer, sp_bk_head_stats *out, sp_error *err) {
    cu_session *s = (cu_session *)session;
    const sp_bk_model *m = s->cm->m;
    for (size_t i = 0; i < m->n_ops; i++) {
        const sp_bk_op *op = &m->ops[i];
        if (op->kind != SP_BK_ATTENTION || op->layer != (int)layer) continue;
        int heads = op->u.attn.heads;
        cu_attn_stats *tmp = (cu_attn_stats *)calloc((size_t)heads, sizeof *tmp);
        if (!tmp) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        cudaSetDevice(s->cm->device);
        cudaError_t e = cudaStreamSynchronize(s->stream);
        if (e == cudaSuccess)
            e = cudaMemcpy(tmp, s->stats[layer], (size_t)heads * sizeof *tmp,
                           cudaMemcpyDeviceToHost);
        for (int h = 0; e == cudaSuccess && h < heads; h++)
            out[h] = sp_bk_head_stats{tmp[h].rows, tmp[h].support, tmp[h].visible, tmp[h].tiles,
                                      tmp[h].tiles_skipped};
        free(tmp);
        return e == cudaSuccess ? SP_OK : cu_fail_cuda(err, e, "reading statistics", 0);
    }
    return sp_fail(err, SP_ERR_INPUT, "no attention layer %zu", layer);
}

static const sp_backend_vtable cu_vtable = {
    SP_BACKEND_ABI, "cuda", open_model, free_model, session_create, session_free, session_reset,
    cu_forward, cu_forward_nll, stats_enable, stats_reset, stats_read, cu_batch_capacity,
    cu_forward_nll_batch,
};

extern "C" __attribute__((visibility("default"))) const sp_backend_vtable *sparsa_backend_v1(void) {
    return &cu_vtable;
}
