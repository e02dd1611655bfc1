/* cu_attn_sparse.cu — the last step of the bf16 α-entmax list pipeline (docs/ATTENTION_MATH.md,
 * "The CUDA kernels"): for every (head, query row) the exact τ from the row's list of keys above
 * its listing threshold (cu_attn_ent_bf16.cu), then o = Σ p_j v_j over the support only, one
 * value row read per support key, and the statistics (support, and the 64-key tiles without a
 * support key).
 *
 * A warp per row, the list in registers (LIST_SHORT entries per lane in the kernel that visits
 * every row; rows with longer lists are queued for a second kernel with LIST_NL entries per
 * lane, so that the common short rows run at a higher occupancy); the listed keys' scores are
 * formed again in fp32, so τ (by the solver of cu_attn_solver.cuh) and the weights are those of
 * the fp32 scores on the bf16 cache. Rows whose list overflowed the workspace are done by a block per row that
 * recomputes the row's scores in fp32 into scratch (with their own maximum), solves over memory
 * and sums o over every key of weight > 0.
 */
#include "cu_attn_solver.cuh"

#define LIST_NL 8    /* list entries per lane: the list's capacity is 32·LIST_NL at most */
#define LIST_SHORT 2 /* entries per lane of the first kernel (most lists are short) */

/* Columns lane·RC … lane·RC+RC−1 of value row j (bf16 cache, RC even). */
template <int RC>
__device__ __forceinline__ void load_v(const cu_attn_geom &g, int j, int kvh, int lane, float *v) {
    const __nv_bfloat162 *p = (const __nv_bfloat162 *)((const __nv_bfloat16 *)g.v +
                                                       ((size_t)j * g.Hk + kvh) * g.dv +
                                                       (size_t)lane * RC);
#pragma unroll
    for (int c = 0; c < RC / 2; c++) {
        const float2 f = __bfloat1622float2(p[c]);
        v[2 * c] = f.x, v[2 * c + 1] = f.y;
    }
}

/* One row's statistics, as the CPU counts them (sparsa perplexity --stats). */
__device__ void row_stats(const cu_attn_geom &g, int h, int lo, int hi, int sup, int stiles,
                          bool nanrow) {
    const int vis = hi - lo;
    const int vt = vis > 0 ? (hi - 1) / CU_ATTN_STAT_TK - lo / CU_ATTN_STAT_TK + 1 : 0;
    unsigned long long *st = (unsigned long long *)&g.stats[h];
    atomicAdd(&st[0], 1ull);
    atomicAdd(&st[1], nanrow ? 1ull : (unsigned long long)sup);
    atomicAdd(&st[2], (unsigned long long)vis);
    if (nanrow) return;
    atomicAdd(&st[3], (unsigned long long)vt);
    atomicAdd(&st[4], (unsigned long long)(vt - stiles));
}

/* The fp32 score of key j for q' in qv (D floats): the bf16 key widened, four multiply-add
 * chains, soft cap and ALiBi — the score the CPU forms on the same cache (only the order of the
 * sums differs). */
template <int D>
__device__ float exact_score(const cu_attn_geom &g, const float *qv, int j, int kvh, float slope,
                             int i) {
    const uint4 *kp = (const uint4 *)((const __nv_bfloat16 *)g.k + ((size_t)j * g.Hk + kvh) * D);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f}; /* four chains: the key's loads all in flight */
#pragma unroll
    for (int c = 0; c < D / 8; c++) {
        const uint4 u = kp[c];
        const __nv_bfloat162 *b = (const __nv_bfloat162 *)&u;
#pragma unroll
        for (int t = 0; t < 4; t++) {
            const float2 f = __bfloat1622float2(b[t]);
            acc[t] = fmaf(qv[8 * c + 2 * t], f.x, acc[t]);
            acc[t] = fmaf(qv[8 * c + 2 * t + 1], f.y, acc[t]);
        }
    }
    return cu_attn_finish(g, (acc[0] + acc[1]) + (acc[2] + acc[3]), slope, i, j);
}

__device__ __forceinline__ float entmax_weight(float dd, float alpha, float ex) {
    if (!(dd > 0.0f)) return 0.0f;
    return alpha == 1.5f ? dd * dd : alpha == 2.0f ? dd : powf(dd, ex);
}

/* o += Σ p v over the list's support, four value rows in flight at a time; *nf counts, per
 * lane, its support entries that are the first of their 64-key tile (with stats). */
template <int RC, int NL>
__device__ void list_accumulate(const cu_attn_geom &g, int kvh, const float *p, const int *key,
                                float *acc, int *sup, int *nf) {
    const int lane = threadIdx.x & 31;
    unsigned later = 0; /* entries with a support key of a lower index in their tile */
#pragma unroll
    for (int i = 0; i < NL; i++) {
        unsigned msk = __ballot_sync(0xffffffffu, p[i] > 0.0f);
        *sup += __popc(msk);
        while (msk) {
            float pj[4], v[4][RC];
            int jj[4];
#pragma unroll
            for (int b = 0; b < 4; b++) {
                const int src = msk ? __ffs(msk) - 1 : 0;
                pj[b] = __shfl_sync(0xffffffffu, p[i], src);
                jj[b] = __shfl_sync(0xffffffffu, key[i], src);
                if (!msk) pj[b] = 0.0f, jj[b] = -1;
                msk &= msk - 1;
            }
#pragma unroll
            for (int b = 0; b < 4; b++)
                if (jj[b] >= 0) load_v<RC>(g, jj[b], kvh, lane, v[b]);
#pragma unroll
            for (int b = 0; b < 4; b++) {
                if (jj[b] < 0) continue;
#pragma unroll
                for (int c = 0; c < RC; c++) acc[c] += pj[b] * v[b][c];
                if (g.stats)
#pragma unroll
                    for (int k = 0; k < NL; k++)
                        if (p[k] > 0.0f && key[k] / CU_ATTN_STAT_TK == jj[b] / CU_ATTN_STAT_TK &&
                            jj[b] < key[k])
                            later |= 1u << k;
            }
        }
    }
    int first = 0;
#pragma unroll
    for (int k = 0; k < NL; k++) first += p[k] > 0.0f && !((later >> k) & 1u);
    *nf = first;
}

/* One row by one warp from its list of cnt ≤ 32·NL entries (see the file's head). */
template <int RC, int NL>
__device__ void list_row(const cu_attn_geom &g, const cu_ent_ws &w, size_t item, int cnt,
                         float *qv) {
    const int lane = threadIdx.x & 31;
    const int h = (int)(item / g.nq), row = (int)(item % g.nq), kvh = h / g.group;
    int lo, hi;
    cu_attn_visible(g, g.q0 + row, &lo, &hi);
    float *o = g.out + ((size_t)row * g.H + h) * g.dv + (size_t)lane * RC;
    /* the listed keys' scores again in fp32 (q' unrounded): τ and the weights are those of the
     * fp32 scores on the bf16 cache; the list holds their support (cu_attn_ent_bf16.cu) */
    const float qf = cu_attn_qfactor(g, row, h), slope = g.slopes ? g.slopes[h] : 0.0f;
    for (int x = lane; x < g.d; x += 32) qv[x] = g.q[((size_t)row * g.H + h) * g.d + x] * qf;
    __syncwarp();
    int key[NL];
    float sc[NL], mx = -INFINITY;
#pragma unroll
    for (int i = 0; i < NL; i++) {
        const int j = lane + 32 * i;
        key[i] = j < cnt ? w.idx[item * w.cap + j] : -1;
        sc[i] = key[i] >= 0 ? exact_score<32 * RC>(g, qv, key[i], kvh, slope, g.q0 + row)
                            : -INFINITY;
        mx = fmaxf(mx, sc[i]);
    }
    __syncwarp(); /* qv is the next row's */
    for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    const float am1 = g.alpha - 1.0f;
    warp_row<NL> lr = {NULL, cnt, mx, am1, {}};
#pragma unroll
    for (int i = 0; i < NL; i++) {
        const float v = am1 * (sc[i] - mx);
        lr.reg[i] = v > -1.0f ? v : -INFINITY;
    }
    const float tau = (float)solve_tau(lr, lr.count(), g.alpha);
    const float ex = 1.0f / am1;
    float p[NL], psum = 0.0f;
#pragma unroll
    for (int i = 0; i < NL; i++) psum += p[i] = entmax_weight(lr.reg[i] - tau, g.alpha, ex);
    float acc[RC];
#pragma unroll
    for (int c = 0; c < RC; c++) acc[c] = 0.0f;
    int sup = 0, nf = 0;
    list_accumulate<RC, NL>(g, kvh, p, key, acc, &sup, &nf);
    for (int off = 16; off > 0; off >>= 1) {
        psum += __shfl_xor_sync(0xffffffffu, psum, off);
        nf += __shfl_xor_sync(0xffffffffu, nf, off);
    }
    /* the closed forms' weights sum to 1 already; the converged solver's are normalised, as
     * on the CPU */
    const float inv = g.alpha == 1.5f || g.alpha == 2.0f ? 1.0f : 1.0f / psum;
#pragma unroll
    for (int c = 0; c < RC; c++) o[c] = acc[c] * inv;
    if (lane == 0) w.tau[item] = tau;
    if (g.stats && lane == 0) row_stats(g, h, lo, hi, sup, nf, false);
}

/* Every row, a warp each: rows without keys or without a finite maximum directly, lists of
 * up to 32·LIST_SHORT entries here, longer ones queued for list_long, lists over the capacity
 * for the block path. */
template <int RC>
__global__ void __launch_bounds__(256, 4) list_out(const cu_attn_geom g, const cu_ent_ws w,
                                                 int *ovf_n, int *ovf, int *long_n, int *lng) {
    const int lane = threadIdx.x & 31;
    const size_t item = (size_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    if (item >= (size_t)g.H * g.nq) return;
    const int h = (int)(item / g.nq), row = (int)(item % g.nq);
    int lo, hi;
    cu_attn_visible(g, g.q0 + row, &lo, &hi);
    const float m = w.m[item];
    const int cnt = w.cnt[item];
    if (hi > lo && isfinite(m) && cnt > 32 * LIST_SHORT) {
        if (lane == 0) {
            if (cnt > w.cap) ovf[atomicAdd(ovf_n, 1)] = (int)item; /* the block path's row */
            else lng[atomicAdd(long_n, 1)] = (int)item;
        }
        return;
    }
    if (hi <= lo || !isfinite(m)) { /* no key: zeros; no finite maximum: NaN */
        float *o = g.out + ((size_t)row * g.H + h) * g.dv + (size_t)lane * RC;
#pragma unroll
        for (int c = 0; c < RC; c++) o[c] = hi <= lo ? 0.0f : NAN;
        if (g.stats && lane == 0) row_stats(g, h, lo, hi, 0, 0, hi > lo);
        return;
    }
    __shared__ float qsh[8][128];
    list_row<RC, LIST_SHORT>(g, w, item, cnt, qsh[threadIdx.x >> 5]);
}

/* The queued rows with lists of more than 32·LIST_SHORT entries, a warp each (grid-stride). */
template <int RC>
__global__ void __launch_bounds__(256) list_long(const cu_attn_geom g, const cu_ent_ws w,
                                                  const int *long_n, const int *lng) {
    __shared__ float qsh[8][128];
    const int n = *long_n;
    for (int e = blockIdx.x * 8 + (threadIdx.x >> 5); e < n; e += gridDim.x * 8) {
        const size_t item = (size_t)lng[e];
        list_row<RC, LIST_NL>(g, w, item, w.cnt[item], qsh[threadIdx.x >> 5]);
    }
}

/* A block per overflowed row (grid-stride over the overflow list): the row's scores in fp32
 * into scratch, its own maximum, x = (α−1)(s − m) kept where > −1, τ by the block solver, the
 * weights in place, then o: thread t sums column t % dv over every G-th key (G = 256 / dv). */
__global__ void __launch_bounds__(256) list_dense(const cu_attn_geom g, const cu_ent_ws w,
                                                   const int *ovf_n, const int *ovf) {
    __shared__ double red[32];
    __shared__ float redf[32], part[256];
    extern __shared__ float qs[];
    float *s = w.scratch + (size_t)blockIdx.x * g.nk;
    const float am1 = g.alpha - 1.0f, ex = 1.0f / am1;
    const int tid = threadIdx.x;
    for (int e = blockIdx.x; e < *ovf_n; e += gridDim.x) {
        const int item = ovf[e], h = item / g.nq, row = item % g.nq, kvh = h / g.group;
        int lo, hi;
        cu_attn_visible(g, g.q0 + row, &lo, &hi);
        const int n = hi - lo;
        cu_attn_row_scores(g, h, row, lo, hi, s, qs);
        float mx = -INFINITY;
        for (int j = tid; j < n; j += blockDim.x) mx = fmaxf(mx, s[j]);
        const float m = cu_block_max(mx, redf);
        int c = 0;
        for (int j = tid; j < n; j += blockDim.x) {
            const float x = am1 * (s[j] - m);
            s[j] = x > -1.0f ? x : -INFINITY;
            c += x > -1.0f;
        }
        const double cs = cu_block_sum((double)c, red);
        const block_row br = {s, n, red, redf};
        const float tau = (float)solve_tau(br, cs, g.alpha);
        double psum = 0.0;
        int sup = 0;
        for (int j = tid; j < n; j += blockDim.x) {
            s[j] = entmax_weight(s[j] - tau, g.alpha, ex);
            psum += s[j], sup += s[j] > 0.0f;
        }
        psum = cu_block_sum(psum, red);
        const int nsup = (int)cu_block_sum((double)sup, red);
        int st = 0; /* 64-key tiles with a support key */
        for (int t = lo / CU_ATTN_STAT_TK + tid; g.stats && t <= (hi - 1) / CU_ATTN_STAT_TK;
             t += blockDim.x) {
            int any = 0;
            for (int j = max(lo, t * CU_ATTN_STAT_TK); j < min(hi, (t + 1) * CU_ATTN_STAT_TK); j++)
                any |= s[j - lo] > 0.0f;
            st += any;
        }
        const int stiles = (int)cu_block_sum((double)st, red);
        const int G = blockDim.x / g.dv, x = tid % g.dv, grp = tid / g.dv;
        float acc = 0.0f;
        for (int j = grp; grp < G && j < n; j += G)
            if (s[j] > 0.0f)
                acc += s[j] * cu_attn_ld(g.v, ((size_t)(lo + j) * g.Hk + kvh) * g.dv + x, 1);
        part[tid] = acc;
        __syncthreads();
        const float inv = g.alpha == 1.5f || g.alpha == 2.0f ? 1.0f : (float)(1.0 / psum);
        if (tid < g.dv) {
            float o = 0.0f;
            for (int k = 0; k < G; k++) o += part[k * g.dv + tid];
            g.out[((size_t)row * g.H + h) * g.dv + tid] = o * inv;
        }
        if (tid == 0) w.tau[item] = tau;
        if (tid == 0 && g.stats) row_stats(g, h, lo, hi, nsup, stiles, false);
        __syncthreads();
    }
}

cudaError_t cu_attn_list_out_launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    const size_t items = (size_t)g->H * g->nq;
    if (w->cap > 32 * LIST_NL || !g->kv_bf16 || (g->dv != 64 && g->dv != 128))
        return cudaErrorNotSupported;
    int *ovf_n = w->cnt + items, *ovf = ovf_n + 1, *long_n = ovf + items, *lng = long_n + 1;
    cudaError_t e = cudaMemsetAsync(ovf_n, 0, sizeof(int), st);
    if (e == cudaSuccess) e = cudaMemsetAsync(long_n, 0, sizeof(int), st);
    if (e != cudaSuccess) return e;
    const unsigned blocks = (unsigned)((items + 7) / 8);
    if (g->dv == 128) list_out<4><<<blocks, 256, 0, st>>>(*g, *w, ovf_n, ovf, long_n, lng);
    else list_out<2><<<blocks, 256, 0, st>>>(*g, *w, ovf_n, ovf, long_n, lng);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    const unsigned lb = (unsigned)w->rows_grid;
    if (g->dv == 128) list_long<4><<<lb, 256, 0, st>>>(*g, *w, long_n, lng);
    else list_long<2><<<lb, 256, 0, st>>>(*g, *w, long_n, lng);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    list_dense<<<(unsigned)w->rows_grid, 256, (size_t)g->d * sizeof(float), st>>>(*g, *w, ovf_n,
                                                                                 ovf);
    return cudaGetLastError();
}
