/* cu_ops_norm.cu — rmsnorm on the GPU (interpreter/ops_rmsnorm.c): statistics in double, then
 * y = (x · r) · w, r = 1/sqrt(mean(x²) + eps). Also fused forms the executor picks (cu_fuse.cu):
 * the residual add before it in the same kernel (x = a + b is written and normalised in one
 * pass), and, in bf16 precision, the output written only as the bf16 rows the next products
 * read (the value's shadow) when products are its only readers. The arithmetic of every form is
 * the plain kernel's, so the fused ones give the same bits. */
#include <cuda_bf16.h>

#include "cu_internal.h"
#include "cu_reduce.cuh"

/* One block per row of d: x = a, or x = a + b written to sum; y (f32) and/or yh (bf16) =
 * (x · r) · w. y may be a's buffer (each thread reads its columns before writing them). */
__global__ static void rmsnorm_kernel(const float *a, const float *b, float *sum, const float *w,
                                      float eps, size_t d, float *y, __nv_bfloat16 *yh) {
    size_t base = (size_t)blockIdx.x * d;
    double ss = 0;
    for (size_t c = threadIdx.x; c < d; c += blockDim.x) {
        float v = a[base + c];
        if (b) {
            v = v + b[base + c];
            sum[base + c] = v;
        }
        ss += (double)v * v;
    }
    ss = cu_block_sum(ss);
    float r = 1.0f / sqrtf((float)(ss / (double)d) + eps);
    for (size_t c = threadIdx.x; c < d; c += blockDim.x) {
        float o = __fmul_rn(b ? sum[base + c] : a[base + c], r) * w[c];
        if (y) y[base + c] = o;
        if (yh) yh[base + c] = __float2bfloat16_rn(o);
    }
}

/* Norm op `norm` (its device vectors ndev) over n rows: x from a (+ b into sum), y its f32
 * rows, replaced by the bf16 shadow when the value has one (body values only: rows from 0). */
static int norm_rows(cu_session *s, const sp_bk_op *norm, const cu_op_dev *ndev, size_t n,
                     const float *a, const float *b, float *sum, float *y, sp_error *err) {
    void *yh = NULL;
    if (s->cm->shadow && s->cm->shadow[norm->out]) {
        int rc = cu_scratch(s, CU_SCR_SHADOW, n * norm->out_width * 2, &yh, err);
        if (rc) return rc;
        y = NULL;
    }
    rmsnorm_kernel<<<(unsigned)n, CU_THREADS, 0, s->stream>>>(a, b, sum, ndev->vec[0],
                                                              norm->u.norm.eps, norm->out_width,
                                                              y, (__nv_bfloat16 *)yh);
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? SP_OK : cu_fail_cuda(err, e, "rmsnorm", 0);
}

int cu_run_rmsnorm(cu_exec *ex, sp_error *err) {
    return norm_rows(ex->s, ex->op, ex->dev, ex->n, ex->in[0], NULL, NULL, ex->out, err);
}

/* The fused pair runs in the body only (cu_fuse.cu), where rows start at 0. */
int cu_run_add_rmsnorm(cu_exec *add, size_t norm_op, sp_error *err) {
    const cu_model *cm = add->s->cm;
    const sp_bk_op *norm = &cm->m->ops[norm_op];
    return norm_rows(add->s, norm, &cm->dev[norm_op], add->n, add->in[0], add->in[1], add->out,
                     cu_plan_value(add->s, norm->out, 0), err);
}
