/* cu_attn_kv.cu — a layer's KV cache on the device (cu_attention.h): allocation, appending
 * rows, and the bound of |k| over each key tile that lets the entmax gather pass skip tiles.
 * K is [max_tokens][kv_heads][head_dim] and V [max_tokens][kv_heads][value_dim], in f32, or in
 * bf16 (round to nearest even) when the cache was allocated for precision bf16. */
#include "cu_attn_internal.h"

cudaError_t cu_kv_alloc(cu_kv *kv, const sp_bk_attention *p, size_t max_tokens, int bf16) {
    memset(kv, 0, sizeof *kv);
    kv->max_tokens = max_tokens;
    kv->kv_heads = p->kv_heads;
    kv->head_dim = p->head_dim;
    kv->value_dim = p->value_dim > 0 ? p->value_dim : p->head_dim;
    kv->bf16 = bf16 != 0;
    const size_t el = kv->bf16 ? sizeof(__nv_bfloat16) : sizeof(float);
    const size_t n = max_tokens > 0 ? max_tokens : 1;
    cudaError_t e = cudaMalloc(&kv->k, n * (size_t)kv->kv_heads * kv->head_dim * el);
    if (e == cudaSuccess) e = cudaMalloc(&kv->v, n * (size_t)kv->kv_heads * kv->value_dim * el);
    if (e != cudaSuccess) cu_kv_free(kv);
    return e;
}

void cu_kv_free(cu_kv *kv) {
    if (kv->k) cudaFree(kv->k);
    if (kv->v) cudaFree(kv->v);
    kv->k = kv->v = NULL;
}

/* dst[i] = src[i] as bf16, for a contiguous run of rows. */
__global__ void kv_to_bf16(__nv_bfloat16 *dst, const float *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

static cudaError_t append_one(void *base, const float *src, size_t width, size_t pos, size_t n,
                              int bf16, cudaStream_t stream) {
    const size_t count = n * width;
    if (!bf16)
        return cudaMemcpyAsync((float *)base + pos * width, src, count * sizeof(float),
                               cudaMemcpyDeviceToDevice, stream);
    const size_t blocks = (count + 255) / 256;
    kv_to_bf16<<<(unsigned)(blocks < 4096 ? blocks : 4096), 256, 0, stream>>>(
        (__nv_bfloat16 *)base + pos * width, src, count);
    return cudaGetLastError();
}

cudaError_t cu_kv_append(cu_kv *kv, const float *k, const float *v, size_t pos, size_t n,
                         cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    if (pos > kv->max_tokens || n > kv->max_tokens - pos) return cudaErrorInvalidValue;
    cudaError_t e = append_one(kv->k, k, (size_t)kv->kv_heads * kv->head_dim, pos, n, kv->bf16,
                               stream);
    if (e != cudaSuccess) return e;
    return append_one(kv->v, v, (size_t)kv->kv_heads * kv->value_dim, pos, n, kv->bf16, stream);
}

/* knorm[kvh][t] = max over the tile's keys of |k|, enlarged so that rounding never makes it
 * too small (a NaN key gives a NaN bound, which never lets a tile be skipped). A block per
 * (tile, kv head), a warp per key. */
__global__ void __launch_bounds__(256) knorm_kernel(const cu_attn_geom g, const cu_ent_ws w) {
    __shared__ float red[8];
    const int t = blockIdx.x, kvh = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    float mx = 0.0f;
    for (int j = t * w.bk + warp; j < min(g.nk, (t + 1) * w.bk); j += 8) {
        const size_t base = ((size_t)j * g.Hk + kvh) * g.d;
        float sq = 0.0f;
        for (int x = lane; x < g.d; x += 32) {
            const float v = cu_attn_ld(g.k, base + x, g.kv_bf16);
            sq += v * v;
        }
        for (int o = 16; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
        mx = sq > mx || sq != sq ? sq : mx;
    }
    if (lane == 0) red[warp] = mx;
    __syncthreads();
    if (threadIdx.x == 0) {
        float m = red[0];
        for (int k = 1; k < 8; k++) m = red[k] > m || red[k] != red[k] ? red[k] : m;
        w.knorm[(size_t)kvh * w.nkt + t] = sqrtf(m) * (1.0f + 1e-3f) + 1e-6f;
    }
}

cudaError_t cu_attn_knorm_launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    if (w->nkt == 0) return cudaSuccess;
    knorm_kernel<<<dim3((unsigned)w->nkt, (unsigned)g->Hk), 256, 0, st>>>(*g, *w);
    return cudaGetLastError();
}
