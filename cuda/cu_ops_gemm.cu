/* cu_ops_gemm.cu — the matrix ops through cuBLAS: `linear` (y = x Wᵀ + b) and `mlp` (gated
 * act(gate x + gb) ⊙ (up x + ub), or plain act(up x + ub), then down; interpreter/ops_mlp.c).
 *
 * Precision: fp32 computes in fp32 (CUBLAS_COMPUTE_32F, no TF32: the parity mode); tf32 lets
 * cuBLAS use TF32 tensor cores; bf16 multiplies bf16 (or f16, as the weight is stored)
 * operands with fp32 accumulation and f32 output, the activations rounded by a small kernel.
 * Bias and activation run in one elementwise kernel after the products. The MLP works in
 * chunks of rows so its hidden scratch stays bounded at long windows. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cu_internal.h"

/* Hidden floats per MLP chunk (per buffer): 64 MB. */
#define CU_MLP_CHUNK_FLOATS ((size_t)1 << 24)

/* Grid-stride loops over at most CU_ROUND_BLOCKS blocks (one block per 256 values of a
 * 25M-value call spent its time scheduling blocks). */
#define CU_ROUND_BLOCKS 4096
__global__ static void to_bf16(const float *x, __nv_bfloat16 *y, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16_rn(x[i]);
}

__global__ static void to_half(const float *x, __half *y, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = __float2half_rn(x[i]);
}

static unsigned round_blocks(size_t count) {
    unsigned b = cu_blocks(count);
    return b < CU_ROUND_BLOCKS ? (b ? b : 1) : CU_ROUND_BLOCKS;
}

/* x (count floats of value src) → the weight's half type in scratch; *out its pointer. The
 * copy of the same rows made earlier in this cu_run_ops is reused. */
static int round_input(cu_session *s, const float *x, int src, size_t count, int dtype,
                       const void **out, sp_error *err) {
    void *h;
    if (src >= 0 && src == s->half_src && s->half_seq == s->run_seq && s->half_ptr == x &&
        s->half_count == count && s->half_dtype == dtype && s->scr[CU_SCR_HALF_IN]) {
        *out = s->scr[CU_SCR_HALF_IN];
        return SP_OK;
    }
    s->half_src = -1;
    int rc = cu_scratch(s, CU_SCR_HALF_IN, count * 2, &h, err);
    if (rc) return rc;
    if (dtype == CU_BF16)
        to_bf16<<<round_blocks(count), CU_THREADS, 0, s->stream>>>(x, (__nv_bfloat16 *)h, count);
    else
        to_half<<<round_blocks(count), CU_THREADS, 0, s->stream>>>(x, (__half *)h, count);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return cu_fail_cuda(err, e, "rounding activations", 0);
    s->half_src = src;
    s->half_seq = s->run_seq;
    s->half_ptr = x;
    s->half_count = count;
    s->half_dtype = dtype;
    *out = h;
    return SP_OK;
}

int cu_mlp_gate_up(const cu_model *cm, const sp_bk_op *op) {
    return cm->prec == SP_PREC_BF16 && op->u.mlp.gated && !getenv("SPARSA_CUDA_MLP_F32");
}

/* y = b · W[row0..row0+n)ᵀ with b [m][k] already in the weight's element type; y of ytype
 * (f32, or bf16 for the MLP's stacked gate/up rows). */
static int gemm_out(cu_session *s, const void *b, size_t m, size_t k, const cu_weight *w,
                    size_t row0, size_t n, void *y, cudaDataType_t ytype, size_t ldy,
                    sp_error *err) {
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || ldy > INT32_MAX)
        return sp_fail(err, SP_ERR_RUNTIME, "a matrix product of %zu × %zu × %zu is too large "
                       "for cuBLAS", m, k, n);
    const float one = 1.0f, zero = 0.0f;
    cudaDataType_t type = w->dtype == CU_F32 ? CUDA_R_32F : w->dtype == CU_BF16 ? CUDA_R_16BF
                                                                                 : CUDA_R_16F;
    cublasComputeType_t compute = w->dtype == CU_F32 && s->cm->prec == SP_PREC_TF32
                                      ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    size_t elem = w->dtype == CU_F32 ? 4 : 2;
    const char *a = (const char *)w->data + row0 * (size_t)w->cols * elem;
    /* Row-major y = x Wᵀ is column-major yᵀ = W xᵀ: W [n][k] row-major is Wᵀ column-major. */
    cublasStatus_t st = cublasGemmEx(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)m, (int)k,
                                     &one, a, type, (int)w->cols, b, type, (int)k, &zero, y,
                                     ytype, (int)ldy, compute, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? SP_OK : cu_fail_cublas(err, st, "matrix product");
}

static int gemm_typed(cu_session *s, const void *b, size_t m, size_t k, const cu_weight *w,
                      size_t row0, size_t n, float *y, size_t ldy, sp_error *err) {
    return gemm_out(s, b, m, k, w, row0, n, y, CUDA_R_32F, ldy, err);
}

/* x's rows as the product's input: the value's bf16 shadow, its rounded copy, or x itself. */
static int gemm_input(cu_session *s, const float *x, int src, size_t count, const cu_weight *w,
                      const void **b, sp_error *err) {
    *b = w->dtype == CU_BF16 ? cu_shadow_rows(s, src, x) : NULL;
    if (*b) return SP_OK;
    *b = x;
    return w->dtype != CU_F32 ? round_input(s, x, src, count, w->dtype, b, err) : SP_OK;
}

int cu_gemm(cu_session *s, const float *x, int src, size_t m, size_t k, const cu_weight *w,
            size_t row0, size_t n, float *y, size_t ldy, sp_error *err) {
    if (!m || !n) return SP_OK;
    const void *b;
    int rc = gemm_input(s, x, src, m * k, w, &b, err);
    return rc ? rc : gemm_typed(s, b, m, k, w, row0, n, y, ldy, err);
}

int cu_run_linear(cu_exec *ex, sp_error *err) {
    size_t n = ex->op->out_width, k = ex->op->in_width[0];
    int rc = cu_gemm(ex->s, ex->in[0], ex->op->in[0], ex->n, k, &ex->dev->w[0], 0, n, ex->out, n,
                     err);
    if (!rc) rc = cu_add_bias(ex->out, ex->n, n, n, ex->dev->vec[0], ex->s->stream, err);
    return rc;
}

static __device__ float activate(int act, float x) {
    switch (act) {
    case SP_BK_SILU: return x / (1.0f + expf(-x));
    case SP_BK_GELU_TANH: {
        float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return x / (1.0f + expf(-2.0f * u));
    }
    case SP_BK_GELU: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    default: return x > 0 ? x : 0.0f;
    }
}

static __device__ void store(float *p, float v) { *p = v; }
static __device__ void store(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }
static __device__ void store(__half *p, float v) { *p = __float2half_rn(v); }

/* h[i] = act(g + gb) · (u + ub) (gated) or act(u + ub) (plain), stored as T: f32, or the
 * down projection's half type so its product needs no separate rounding pass. */
template <typename T>
__global__ static void act_kernel(int act, int gated, const float *u, const float *ub,
                                  const float *g, const float *gb, T *h, size_t rows,
                                  size_t hid) {
    size_t c = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= hid) return;
    for (size_t r = blockIdx.y; r < rows; r += gridDim.y) {
        size_t i = r * hid + c;
        float up = u[i] + (ub ? ub[c] : 0.0f);
        store(&h[i], gated ? activate(act, g[i] + (gb ? gb[c] : 0.0f)) * up : activate(act, up));
    }
}

/* The hidden rows h (in the down projection's type) from u, g; *out the buffer. */
static int activate_chunk(cu_exec *ex, size_t m, float *u, float *g, const void **out,
                          sp_error *err) {
    const cu_op_dev *dv = ex->dev;
    size_t hid = ex->op->u.mlp.hidden;
    int act = (int)ex->op->u.mlp.act, gated = ex->op->u.mlp.gated, dt = dv->w[2].dtype;
    dim3 grid(cu_blocks(hid), cu_row_blocks(m));
    cudaStream_t st = ex->s->stream;
    void *h = gated ? (void *)g : (void *)u;   /* f32: in place */
    if (dt != CU_F32) {
        ex->s->half_src = -1;  /* the rounded input is overwritten */
        int rc = cu_scratch(ex->s, CU_SCR_HALF_IN, m * hid * 2, &h, err);
        if (rc) return rc;
    }
    if (dt == CU_F32)
        act_kernel<<<grid, CU_THREADS, 0, st>>>(act, gated, u, dv->vec[0], g, dv->vec[1],
                                                (float *)h, m, hid);
    else if (dt == CU_BF16)
        act_kernel<<<grid, CU_THREADS, 0, st>>>(act, gated, u, dv->vec[0], g, dv->vec[1],
                                                (__nv_bfloat16 *)h, m, hid);
    else
        act_kernel<<<grid, CU_THREADS, 0, st>>>(act, gated, u, dv->vec[0], g, dv->vec[1],
                                                (__half *)h, m, hid);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return cu_fail_cuda(err, e, "mlp activation", 0);
    *out = h;
    return SP_OK;
}

/* h[r][c] = act(g + gb) · (u + ub) from the stacked product's bf16 rows gu[r] = [g | u]. */
template <typename T>
__global__ static void act_stacked_kernel(int act, const __nv_bfloat16 *gu, const float *ub,
                                          const float *gb, T *h, size_t rows, size_t hid) {
    size_t c = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= hid) return;
    for (size_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const __nv_bfloat16 *row = gu + r * 2 * hid;
        float g = __bfloat162float(row[c]) + (gb ? gb[c] : 0.0f);
        float u = __bfloat162float(row[hid + c]) + (ub ? ub[c] : 0.0f);
        store(&h[r * hid + c], activate(act, g) * u);
    }
}

/* The gate and up rows in one product (bf16 out, into gu), then the hidden rows h in the down
 * projection's type. */
static int gate_up_chunk(cu_exec *ex, const float *x, size_t m, void *gu, const void **out,
                         sp_error *err) {
    const cu_op_dev *dv = ex->dev;
    size_t d = ex->op->in_width[0], hid = ex->op->u.mlp.hidden;
    const void *b;
    void *h;
    int rc = gemm_input(ex->s, x, ex->op->in[0], m * d, &dv->w[0], &b, err);
    if (!rc) rc = gemm_out(ex->s, b, m, d, &dv->w[0], 0, 2 * hid, gu, CUDA_R_16BF, 2 * hid, err);
    ex->s->half_src = -1;  /* the rounded input is overwritten */
    if (!rc) rc = cu_scratch(ex->s, CU_SCR_HALF_IN, m * hid * 2, &h, err);
    if (rc) return rc;
    dim3 grid(cu_blocks(hid), cu_row_blocks(m));
    int act = (int)ex->op->u.mlp.act;
    const __nv_bfloat16 *g = (const __nv_bfloat16 *)gu;
    if (dv->w[2].dtype == CU_BF16)
        act_stacked_kernel<<<grid, CU_THREADS, 0, ex->s->stream>>>(
            act, g, dv->vec[0], dv->vec[1], (__nv_bfloat16 *)h, m, hid);
    else
        act_stacked_kernel<<<grid, CU_THREADS, 0, ex->s->stream>>>(
            act, g, dv->vec[0], dv->vec[1], (__half *)h, m, hid);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return cu_fail_cuda(err, e, "mlp activation", 0);
    *out = h;
    return SP_OK;
}

/* Rows r0..r0+m of the MLP. */
static int mlp_chunk(cu_exec *ex, size_t r0, size_t m, float *u, float *g, sp_error *err) {
    const cu_op_dev *dv = ex->dev;
    size_t d = ex->op->in_width[0], dout = ex->op->out_width, hid = ex->op->u.mlp.hidden;
    const float *x = ex->in[0] + r0 * d;
    const void *h = NULL;
    int rc = SP_OK;
    if (dv->gate_up) {
        rc = gate_up_chunk(ex, x, m, u, &h, err);
    } else {
        rc = cu_gemm(ex->s, x, ex->op->in[0], m, d, &dv->w[0], 0, hid, u, hid, err);
        if (!rc && ex->op->u.mlp.gated)
            rc = cu_gemm(ex->s, x, ex->op->in[0], m, d, &dv->w[1], 0, hid, g, hid, err);
        if (!rc) rc = activate_chunk(ex, m, u, g, &h, err);
    }
    if (rc) return rc;
    float *y = ex->out + r0 * dout;
    rc = gemm_typed(ex->s, h, m, hid, &dv->w[2], 0, dout, y, dout, err);
    if (!rc) rc = cu_add_bias(y, m, dout, dout, dv->vec[2], ex->s->stream, err);
    return rc;
}

int cu_run_mlp(cu_exec *ex, sp_error *err) {
    size_t hid = ex->op->u.mlp.hidden;
    size_t chunk = CU_MLP_CHUNK_FLOATS / (hid ? hid : 1);
    if (chunk < 1) chunk = 1;
    if (chunk > ex->n) chunk = ex->n;
    void *u = NULL, *g = NULL;
    int rc = cu_scratch(ex->s, CU_SCR_HID_UP, chunk * hid * sizeof(float), &u, err);
    /* the stacked product's bf16 [chunk][2·hid] rows take u's bytes */
    if (!rc && ex->op->u.mlp.gated && !ex->dev->gate_up)
        rc = cu_scratch(ex->s, CU_SCR_HID_GATE, chunk * hid * sizeof(float), &g, err);
    for (size_t r0 = 0; !rc && r0 < ex->n; r0 += chunk) {
        size_t m = ex->n - r0 < chunk ? ex->n - r0 : chunk;
        rc = mlp_chunk(ex, r0, m, (float *)u, (float *)g, err);
    }
    return rc;
}
