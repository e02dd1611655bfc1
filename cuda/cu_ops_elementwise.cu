/* cu_ops_elementwise.cu — the row-wise ops' kernels: embed (with its scale), layernorm, rope
 * (both pair conventions), add, softcap, scale, and the bias add of the GEMMs (rmsnorm is
 * cu_ops_norm.cu's).
 * Each follows the CPU op's arithmetic (interpreter/ops_<name>.c): norm statistics in double,
 * rope angles pos·inv_freq in fp32 then cosf/sinf, so fp32 mode stays within the CPU's
 * tolerance (docs/ATTENTION_MATH.md#rope). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cu_internal.h"
#include "cu_reduce.cuh"

static int launched(sp_error *err, const char *what) {
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? SP_OK : cu_fail_cuda(err, e, what, 0);
}

static __device__ float to_f32(float x) { return x; }
static __device__ float to_f32(__half x) { return __half2float(x); }
static __device__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__global__ static void embed_kernel(const T *table, const int32_t *tok, size_t n, size_t d,
                                    float scale, float *y) {
    size_t c = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= d) return;
    for (size_t row = blockIdx.y; row < n; row += gridDim.y) {
        float v = to_f32(table[(size_t)tok[row] * d + c]);
        y[row * d + c] = scale != 1.0f ? v * scale : v;
    }
}

int cu_run_embed(cu_exec *ex, sp_error *err) {
    const cu_weight *w = &ex->dev->w[0];
    size_t d = ex->op->out_width;
    dim3 grid(cu_blocks(d), cu_row_blocks(ex->n));
    float sc = ex->op->u.embed.scale;
    cudaStream_t st = ex->s->stream;
    const int32_t *tok = ex->tokens;
    size_t n = ex->n;
    if (w->dtype == CU_F32)
        embed_kernel<<<grid, CU_THREADS, 0, st>>>((const float *)w->data, tok, n, d, sc, ex->out);
    else if (w->dtype == CU_F16)
        embed_kernel<<<grid, CU_THREADS, 0, st>>>((const __half *)w->data, tok, n, d, sc, ex->out);
    else
        embed_kernel<<<grid, CU_THREADS, 0, st>>>((const __nv_bfloat16 *)w->data, tok, n, d, sc,
                                                  ex->out);
    return launched(err, "embed");
}

/* One block per row: y = (x − mean)·r·w + b, biased variance (interpreter/ops_layernorm.c). */
__global__ static void layernorm_kernel(const float *x, const float *w, const float *b,
                                        float eps, size_t d, float *y) {
    const float *xr = x + blockIdx.x * d;
    float *yr = y + blockIdx.x * d;
    double s = 0;
    for (size_t c = threadIdx.x; c < d; c += blockDim.x) s += xr[c];
    float mean = (float)(cu_block_sum(s) / (double)d);
    double ss = 0;
    for (size_t c = threadIdx.x; c < d; c += blockDim.x) {
        float dx = xr[c] - mean;
        ss += (double)dx * dx;
    }
    float r = 1.0f / sqrtf((float)(cu_block_sum(ss) / (double)d) + eps);
    for (size_t c = threadIdx.x; c < d; c += blockDim.x)
        yr[c] = __fadd_rn(__fmul_rn(__fmul_rn(xr[c] - mean, r), w[c]), b ? b[c] : 0.0f);
}

int cu_run_layernorm(cu_exec *ex, sp_error *err) {
    layernorm_kernel<<<(unsigned)ex->n, CU_THREADS, 0, ex->s->stream>>>(
        ex->in[0], ex->dev->vec[0], ex->dev->vec[1], ex->op->u.norm.eps, ex->op->out_width,
        ex->out);
    return launched(err, "layernorm");
}

/* Grid (pairs of a row, rows): pair k of every head at the row's position; the rest of the
 * head (dims ≥ rot) is copied. */
static __device__ void rope_row(const float *x, float *y, size_t w, size_t hd, size_t rot,
                               int interleaved, const float *inv_freq, size_t pos, size_t row) {
    size_t half = rot / 2, heads = w / hd;
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const float *xr = x + row * w;
    float *yr = y + row * w;
    if (t < heads * (hd - rot)) {  /* the unrotated tail of each head */
        size_t h = t / (hd - rot), c = rot + t % (hd - rot);
        yr[h * hd + c] = xr[h * hd + c];
    }
    if (t >= heads * half) return;
    size_t h = t / half, k = t % half;
    float ang = (float)pos * inv_freq[k];
    float cs = cosf(ang), sn = sinf(ang);
    size_t a = interleaved ? 2 * k : k, b = interleaved ? a + 1 : a + half;
    float xa = xr[h * hd + a], xb = xr[h * hd + b];
    yr[h * hd + a] = __fsub_rn(__fmul_rn(xa, cs), __fmul_rn(xb, sn));
    yr[h * hd + b] = __fadd_rn(__fmul_rn(xb, cs), __fmul_rn(xa, sn));
}

/* Row r is at position pos0 + r, or pos0 + r mod period when the rows hold several
 * sequences of period rows. */
__global__ static void rope_kernel(const float *x, float *y, size_t n, size_t w, size_t hd,
                                   size_t rot, int interleaved, const float *inv_freq,
                                   size_t pos0, size_t period) {
    for (size_t row = blockIdx.y; row < n; row += gridDim.y)
        rope_row(x, y, w, hd, rot, interleaved, inv_freq, pos0 + (period ? row % period : row),
                 row);
}

int cu_run_rope(cu_exec *ex, sp_error *err) {
    size_t w = ex->op->out_width, hd = ex->op->u.rope.head_dim, rot = ex->op->u.rope.rot;
    size_t heads = w / hd, per_row = heads * (rot / 2 > hd - rot ? rot / 2 : hd - rot);
    dim3 grid(cu_blocks(per_row), cu_row_blocks(ex->n));
    rope_kernel<<<grid, CU_THREADS, 0, ex->s->stream>>>(ex->in[0], ex->out, ex->n, w, hd, rot,
                                                        ex->op->u.rope.interleaved,
                                                        ex->dev->vec[0], ex->pos0,
                                                        ex->seq_len);
    return launched(err, "rope");
}

__global__ static void add_kernel(const float *a, const float *b, float *y, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a[i] + b[i];
}

int cu_run_add(cu_exec *ex, sp_error *err) {
    size_t count = ex->n * ex->op->out_width;
    add_kernel<<<cu_blocks(count), CU_THREADS, 0, ex->s->stream>>>(ex->in[0], ex->in[1], ex->out,
                                                                   count);
    return launched(err, "add");
}

__global__ static void softcap_kernel(const float *x, float *y, size_t n, float cap) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = tanhf(x[i] / cap) * cap;
}

int cu_run_softcap_n(const float *x, float *y, size_t count, float cap, cudaStream_t st,
                     sp_error *err) {
    softcap_kernel<<<cu_blocks(count), CU_THREADS, 0, st>>>(x, y, count, cap);
    return launched(err, "softcap");
}

__global__ static void scale_kernel(const float *x, float *y, size_t n, float f) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i] * f;
}

int cu_run_scale_n(const float *x, float *y, size_t count, float f, cudaStream_t st,
                   sp_error *err) {
    scale_kernel<<<cu_blocks(count), CU_THREADS, 0, st>>>(x, y, count, f);
    return launched(err, "scale");
}

__global__ static void bias_kernel(float *y, size_t rows, size_t cols, size_t ldy,
                                   const float *b) {
    size_t c = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    for (size_t r = blockIdx.y; r < rows; r += gridDim.y) y[r * ldy + c] += b[c];
}

int cu_add_bias(float *y, size_t rows, size_t cols, size_t ldy, const float *b, cudaStream_t st,
                sp_error *err) {
    if (!b || !rows) return SP_OK;
    dim3 grid(cu_blocks(cols), cu_row_blocks(rows));
    bias_kernel<<<grid, CU_THREADS, 0, st>>>(y, rows, cols, ldy, b);
    return launched(err, "bias");
}
