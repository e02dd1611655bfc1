/* cu_attn_rows.cu — the row kernel: one block per (query row, head) at a time for the
 * normalisers that are not tiled — adaptive-temperature softmax, stick-breaking and top-k
 * (docs/ATTENTION_MATH.md#adaptive-temperature-softmax, #stick-breaking, #top-k). The row's
 * scores go to scratch (nk floats per block), the weights beside them, then o = Σ w_j v_j
 * over the keys with w_j ≠ 0. Simple and exact rather than fast: O(n·d) per row on CUDA
 * cores, sums in double as on the CPU.
 */
#include "cu_attn_internal.h"

__device__ __forceinline__ double softplus_d(double x) {
    return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x)));
}

/* w = softmax(s) over n keys (dense); sums in double. */
__device__ void row_softmax(const float *s, float *w, int n, double *red, float *redf) {
    float m = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, s[j]);
    m = cu_block_max(m, redf);
    double sum = 0.0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float e = expf(s[j] - m);
        w[j] = e;
        sum += e;
    }
    const float inv = (float)(1.0 / cu_block_sum(sum, red));
    for (int j = threadIdx.x; j < n; j += blockDim.x) w[j] *= inv;
    __syncthreads();
}

__device__ void row_adaptive(float *s, float *w, int n, double *red, float *redf) {
    row_softmax(s, w, n, red, redf);
    double hsum = 0.0;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        hsum -= (double)w[j] * log((double)w[j] + 1e-9);
    const double H = cu_block_sum(hsum, red);
    if (!(H > 0.5)) return;
    const double c[5] = {-0.037, 0.481, -2.3, 4.917, -1.791};
    double poly = 0.0, hp = 1.0;
    for (int k = 0; k < 5; k++) poly += c[k] * hp, hp *= H;
    const float beta = poly > 1.0 ? (float)poly : 1.0f;
    if (beta == 1.0f) return;
    for (int j = threadIdx.x; j < n; j += blockDim.x) s[j] *= beta;
    __syncthreads();
    row_softmax(s, w, n, red, redf);
}

/* log A_j = −softplus(−s_j) − Σ_{j<k<n} softplus(s_k): each thread a contiguous chunk, the
 * chunks' sums combined from the nearest key outward. */
__device__ void row_stick(const float *s, float *w, int n, double *part) {
    const int T = blockDim.x, chunk = (n + T - 1) / T, a = threadIdx.x * chunk;
    const int b = min(n, a + chunk);
    double local = 0.0;
    for (int j = a; j < b; j++) local += softplus_d(s[j]);
    part[threadIdx.x] = local;
    __syncthreads();
    double acc = 0.0;
    for (int t = T - 1; t > (int)threadIdx.x; t--) acc += part[t];
    for (int j = b - 1; j >= a; j--) {
        const double x = s[j];
        w[j] = (float)exp(-softplus_d(-x) - acc);
        acc += softplus_d(x);
    }
    __syncthreads();
}

__device__ __forceinline__ unsigned order_key(float f) {
    const unsigned u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

__device__ int block_count_ge(const float *s, int n, unsigned t, double *red) {
    double c = 0.0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) c += order_key(s[j]) >= t;
    return (int)cu_block_sum(c, red);
}

/* Softmax over the K largest scores (equal scores: the lower key first), zeros elsewhere. */
__device__ void row_topk(const cu_attn_geom &g, const float *s, float *w, int n, double *red,
                         float *redf, double *part) {
    int K = g.topk > 0 ? g.topk : 1;
    if (g.topk_div2 && n / 2 > K) K = n / 2;
    unsigned T = 0; /* the K-th largest order key, bit by bit from the top */
    if (K < n)
        for (int bit = 31; bit >= 0; bit--)
            if (block_count_ge(s, n, T | 1u << bit, red) >= K) T |= 1u << bit;
    const int above = K < n ? block_count_ge(s, n, T + 1u, red) * (T != 0xffffffffu) : 0;
    const int need = K - above; /* ties at T taken in key order */
    const int chunk = (n + blockDim.x - 1) / blockDim.x, a = threadIdx.x * chunk;
    const int b = min(n, a + chunk);
    int ties = 0;
    for (int j = a; j < b; j++) ties += K < n && order_key(s[j]) == T;
    part[threadIdx.x] = ties;
    __syncthreads();
    int before = 0;
    for (int t = 0; t < (int)threadIdx.x; t++) before += (int)part[t];
    float m = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, s[j]);
    m = cu_block_max(m, redf);
    double sum = 0.0;
    for (int j = a; j < b; j++) {
        const unsigned k = order_key(s[j]);
        bool keep = K >= n || k > T;
        if (K < n && k == T) keep = before++ < need;
        w[j] = keep ? expf(s[j] - m) : 0.0f;
        sum += w[j];
    }
    const float inv = (float)(1.0 / cu_block_sum(sum, red));
    for (int j = a; j < b; j++) w[j] *= inv;
    __syncthreads();
}

/* o = Σ_j w_j v_{lo+j} over w_j ≠ 0: threads split as (key group, column). */
__device__ void row_output(const cu_attn_geom &g, int h, int row, int lo, const float *w, int n,
                           float *part) {
    const int dv = g.dv, kvh = h / g.group;
    for (int c0 = 0; c0 < dv; c0 += blockDim.x) {
        const int width = min((int)blockDim.x, dv - c0), ngrp = blockDim.x / width;
        const int c = threadIdx.x % width, grp = threadIdx.x / width;
        float acc = 0.0f;
        if (grp < ngrp)
            for (int j = grp; j < n; j += ngrp)
                if (w[j] != 0.0f) {
                    const size_t at = ((size_t)(lo + j) * g.Hk + kvh) * dv + c0 + c;
                    acc += w[j] * cu_attn_ld(g.v, at, g.kv_bf16);
                }
        part[threadIdx.x] = acc;
        __syncthreads();
        if ((int)threadIdx.x < width) {
            float o = 0.0f;
            for (int k = 0; k < ngrp; k++) o += part[k * width + threadIdx.x];
            g.out[((size_t)row * g.H + h) * dv + c0 + threadIdx.x] = o;
        }
        __syncthreads();
    }
}

__global__ void __launch_bounds__(256) rows_kernel(const cu_attn_geom g, float *scratch) {
    __shared__ double red[32], part[256];
    __shared__ float redf[32], partf[256];
    extern __shared__ float qs[];
    float *s = scratch + (size_t)blockIdx.x * 2 * g.nk, *w = s + g.nk;
    for (size_t item = blockIdx.x; item < (size_t)g.nq * g.H; item += gridDim.x) {
        const int h = (int)(item % g.H), row = (int)(item / g.H);
        int lo, hi;
        cu_attn_visible(g, g.q0 + row, &lo, &hi);
        const int n = hi - lo;
        if (n > 0) cu_attn_row_scores(g, h, row, lo, hi, s, qs);
        if (n > 0 && g.norm == CU_NORM_ADAPTIVE) row_adaptive(s, w, n, red, redf);
        if (n > 0 && g.norm == CU_NORM_STICK) row_stick(s, w, n, part);
        if (n > 0 && g.norm == CU_NORM_TOPK) row_topk(g, s, w, n, red, redf, part);
        row_output(g, h, row, lo, w, n, partf);
        if (g.stats) {
            double nz = 0.0;
            for (int j = threadIdx.x; j < n; j += blockDim.x) nz += w[j] != 0.0f;
            nz = cu_block_sum(nz, red);
            if (threadIdx.x == 0) {
                atomicAdd(&g.stats[h].rows, 1ull);
                atomicAdd(&g.stats[h].support, (unsigned long long)nz);
                atomicAdd(&g.stats[h].visible, (unsigned long long)n);
            }
        }
        __syncthreads();
    }
}

cudaError_t cu_attn_rows_launch(const cu_attn_geom *g, float *scratch, cudaStream_t st) {
    const size_t items = (size_t)g->nq * g->H;
    const unsigned grid = (unsigned)(items < CU_ROWS_GRID ? items : CU_ROWS_GRID);
    rows_kernel<<<grid, 256, (size_t)g->d * sizeof(float), st>>>(*g, scratch);
    return cudaGetLastError();
}
