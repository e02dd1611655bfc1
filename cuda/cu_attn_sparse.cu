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
 * the fp32 scores on the bf16 cache. Rows whose list overflowed the workspace are queued for
 * cu_attn_overflow.cu's block path, which runs next.
 */
#include "cu_attn_list.cuh"
#include "cu_attn_solver.cuh"

#define LIST_NL 8    /* list entries per lane: the list's capacity is 32·LIST_NL at most */
#define LIST_SHORT 2 /* entries per lane of the first kernel (most lists are short) */

/* A lane's 8·RC/2 bf16 columns of row j (16 bytes per load; zeros for j < 0): base points at
 * the lane's first column of row 0, stride is a row's length. */
template <int RC>
__device__ __forceinline__ void gather_row(const __nv_bfloat16 *base, int j, size_t stride,
                                           uint4 *u) {
#pragma unroll
    for (int c = 0; c < RC / 2; c++)
        u[c] = j >= 0 ? ((const uint4 *)(base + (size_t)j * stride))[c] : make_uint4(0, 0, 0, 0);
}

/* The 8 bf16 values of u widened, in pairs. */
__device__ __forceinline__ void widen8(const uint4 &u, float2 *f) {
    const __nv_bfloat162 *h2 = (const __nv_bfloat162 *)&u;
#pragma unroll
    for (int t = 0; t < 4; t++) f[t] = __bfloat1622float2(h2[t]);
}

/* Sums of N values per lane over the lanes that differ in bits O0, 2·O0, … (STEPS of them): at
 * every step a lane keeps half of its values, adds its partner's share of them and passes on
 * the other half (one shuffle per pair of values instead of one per value); once one value is
 * left, plain butterfly steps. The additions are the butterfly's, in its order, so the sums
 * have its bits. A lane ends with max(1, N >> STEPS) sums in v[0 …): step k kept the upper half
 * of the values when the lane's bit O0 << k was set. j (or NULL) is carried along as tags of
 * the values (the same in the lanes summed). */
template <int N, int O0, int STEPS>
__device__ __forceinline__ void halving_sums(float *v, int *j) {
    const int lane = threadIdx.x & 31;
    int n = N;
#pragma unroll
    for (int k = 0; k < STEPS; k++) {
        const int o = O0 << k;
        if (n == 1) {
            v[0] += __shfl_xor_sync(0xffffffffu, v[0], o);
            continue;
        }
        const bool hi = lane & o;
        n >>= 1;
#pragma unroll
        for (int i = 0; i < N / 2; i++) {
            if (i >= n) break;
            const float keep = hi ? v[i + n] : v[i], give = hi ? v[i] : v[i + n];
            if (j) j[i] = hi ? j[i + n] : j[i];
            v[i] = keep + __shfl_xor_sync(0xffffffffu, give, o);
        }
    }
}

/* Which of NB values halving_sums<NB, 1, 3> leaves in lane group member sub. */
template <int NB> __device__ __forceinline__ int halving_index(int sub) {
    int b = 0; /* step k kept the upper half (NB >> (k + 1) values up) when bit k was set */
#pragma unroll
    for (int k = 0, m = NB >> 1; m > 0; k++, m >>= 1) b += ((sub >> k) & 1) * m;
    return b;
}

/* The fp32 scores of listed keys e0 … e0 + 4·NB (those below cnt) into ssc: a key row is read
 * by 8 lanes, 16 bytes each (one 128-byte line per key and load, instead of a lane's 8 loads
 * touching 32 lines each), NB rows side by side and 4 keys per row of lanes, the 8 lanes'
 * products added by halving_sums. */
template <int RC, int NB>
__device__ __forceinline__ void score_keys(const cu_attn_geom &g, const int *idx, int cnt, int e0,
                                           const float *q, const __nv_bfloat16 *kb,
                                           size_t kstride, float slope, int i, float *ssc) {
    const int lane = threadIdx.x & 31, sub = lane & 7, kg = lane >> 3;
    uint4 u[NB][RC / 2];
    int jj[NB];
#pragma unroll
    for (int b = 0; b < NB; b++) {
        const int e = e0 + 4 * b + kg;
        jj[b] = e < cnt ? idx[e] : -1;
        gather_row<RC>(kb, jj[b], kstride, u[b]);
    }
    float part[NB];
#pragma unroll
    for (int b = 0; b < NB; b++) {
        float a0 = 0.0f, a1 = 0.0f;
#pragma unroll
        for (int c = 0; c < RC / 2; c++) {
            float2 f[4];
            widen8(u[b][c], f);
#pragma unroll
            for (int t = 0; t < 4; t++) {
                a0 = fmaf(q[8 * c + 2 * t], f[t].x, a0);
                a1 = fmaf(q[8 * c + 2 * t + 1], f[t].y, a1);
            }
        }
        part[b] = a0 + a1;
    }
    halving_sums<NB, 1, 3>(part, jj);
    if (sub < NB && jj[0] >= 0) /* one lane per key group */
        ssc[e0 + 4 * halving_index<NB>(sub) + kg] = cu_attn_finish(g, part[0], slope, i, jj[0]);
}

/* The fp32 scores of the cnt listed keys idx[0 … cnt) into ssc (warp-shared), q' in qv: NB key
 * rows in flight per lane group while the list lasts, a half or a quarter as many for its
 * tail (the key groups past the list would only cost instructions). */
template <int RC>
__device__ void list_scores(const cu_attn_geom &g, const int *idx, int cnt, const float *qv,
                            int kvh, float slope, int i, float *ssc) {
    constexpr int CPL = 4 * RC, NB = RC == 2 ? 8 : 4; /* columns per lane; key groups in flight */
    const int sub = threadIdx.x & 7;
    float q[CPL];
#pragma unroll
    for (int c = 0; c < CPL; c++) q[c] = qv[sub * CPL + c];
    const __nv_bfloat16 *kb = (const __nv_bfloat16 *)g.k + (size_t)kvh * g.d + sub * CPL;
    const size_t kstride = (size_t)g.Hk * g.d;
    for (int e0 = 0; e0 < cnt;) { /* the branches are the warp's, not a lane's */
        const int rem = cnt - e0;
        if (rem > 2 * NB) {
            score_keys<RC, NB>(g, idx, cnt, e0, q, kb, kstride, slope, i, ssc);
            e0 += 4 * NB;
        } else if (rem > NB) {
            score_keys<RC, NB / 2>(g, idx, cnt, e0, q, kb, kstride, slope, i, ssc);
            e0 += 2 * NB;
        } else {
            score_keys<RC, NB / 4>(g, idx, cnt, e0, q, kb, kstride, slope, i, ssc);
            e0 += NB;
        }
    }
    __syncwarp();
}

/* Value row j into the SM's L1 ahead of its use (a 128-byte line per 64 bf16 columns). */
template <int RC>
__device__ __forceinline__ void prefetch_v(const cu_attn_geom &g, int j, int kvh) {
    const __nv_bfloat16 *p = (const __nv_bfloat16 *)g.v + ((size_t)j * g.Hk + kvh) * g.dv;
#pragma unroll
    for (int c = 0; c < RC / 2; c++) asm volatile("prefetch.global.L1 [%0];" ::"l"(p + 64 * c));
}

/* The row's support (p > 0) packed into the warp's shared list sl, in the order of the
 * registers (entry i of every lane, then i + 1): deterministic. Returns its length. */
template <int NL>
__device__ int pack_support(const float *p, const int *key, float2 *sl) {
    const int lane = threadIdx.x & 31;
    int ns = 0;
#pragma unroll
    for (int i = 0; i < NL; i++) {
        const unsigned msk = __ballot_sync(0xffffffffu, p[i] > 0.0f);
        if (p[i] > 0.0f)
            sl[ns + __popc(msk & ((1u << lane) - 1u))] = make_float2(p[i], __int_as_float(key[i]));
        ns += __popc(msk);
    }
    __syncwarp();
    return ns;
}

/* Per lane, its support entries that are the first of their 64-key tile (for the statistics):
 * an entry is not when the support holds a lower key of the same tile. */
template <int NL>
__device__ int first_of_tiles(const float *p, const int *key, const float2 *sl, int ns) {
    int first = 0;
#pragma unroll
    for (int k = 0; k < NL; k++) {
        if (!(p[k] > 0.0f)) continue;
        bool later = false;
        for (int e = 0; e < ns && !later; e++) {
            const int j = __float_as_int(sl[e].y);
            later = j / CU_ATTN_STAT_TK == key[k] / CU_ATTN_STAT_TK && j < key[k];
        }
        first += !later;
    }
    return first;
}

/* o = Σ p v over the ns packed support entries: a value row is read by 8 lanes (4·RC columns,
 * 8·RC bytes each), 4 rows side by side and 4 such groups in flight, so 16 rows are loaded at
 * once; the 4 lane groups' sums are added in two steps that each pass on half of a lane's
 * columns (the butterfly's additions in its order), and lane (sub, kg) ends with columns
 * support_col<RC>(lane) … + RC − 1 in out[0 … RC). */
template <int RC>
__device__ void support_sum_list(const cu_attn_geom &g, int kvh, const float2 *sl, int ns,
                                 float *out) {
    constexpr int CPL = 4 * RC; /* columns per lane while summing */
    const int lane = threadIdx.x & 31, sub = lane & 7, kg = lane >> 3;
    float a[CPL];
#pragma unroll
    for (int c = 0; c < CPL; c++) a[c] = 0.0f;
    const __nv_bfloat16 *vb = (const __nv_bfloat16 *)g.v + (size_t)kvh * g.dv + sub * CPL;
    const size_t vstride = (size_t)g.Hk * g.dv;
    for (int e0 = 0; e0 < ns; e0 += 16) {
        uint4 u[4][RC / 2];
        float pj[4];
#pragma unroll
        for (int b = 0; b < 4; b++) {
            const int e = e0 + 4 * b + kg;
            const float2 f = e < ns ? sl[e] : make_float2(0.0f, __int_as_float(-1));
            pj[b] = f.x;
            gather_row<RC>(vb, __float_as_int(f.y), vstride, u[b]);
        }
#pragma unroll
        for (int b = 0; b < 4; b++)
#pragma unroll
            for (int c = 0; c < RC / 2; c++) {
                float2 f[4];
                widen8(u[b][c], f);
#pragma unroll
                for (int t = 0; t < 4; t++) {
                    a[8 * c + 2 * t] = fmaf(pj[b], f[t].x, a[8 * c + 2 * t]);
                    a[8 * c + 2 * t + 1] = fmaf(pj[b], f[t].y, a[8 * c + 2 * t + 1]);
                }
            }
    }
    halving_sums<CPL, 8, 2>(a, NULL); /* the upper half kept when kg is odd, then when kg ≥ 2 */
#pragma unroll
    for (int c = 0; c < RC; c++) out[c] = a[c];
}

/* The first of the RC output columns support_sum_list leaves in a lane. */
template <int RC> __device__ __forceinline__ int support_col(int lane) {
    return (lane & 7) * 4 * RC + (lane & 8 ? 2 * RC : 0) + (lane & 16 ? RC : 0);
}

/* One row by one warp from its list of cnt ≤ 32·NL entries (see the file's head). */
template <int RC, int NL>
__device__ void list_row(const cu_attn_geom &g, const cu_ent_ws &w, size_t item, int cnt,
                         float *qv, float2 *sl) {
    const int lane = threadIdx.x & 31;
    const int h = (int)(item / g.nq), row = (int)(item % g.nq), kvh = h / g.group;
    int lo, hi;
    cu_attn_visible(g, g.q0 + row, &lo, &hi);
    /* the columns support_sum_list leaves in this lane */
    float *o = g.out + ((size_t)row * g.H + h) * g.dv + support_col<RC>(lane);
    /* the listed keys' scores again in fp32 (q' unrounded): τ and the weights are those of the
     * fp32 scores on the bf16 cache; the list holds their support (cu_attn_ent_bf16.cu) */
    int key[NL]; /* loaded beside q' (not after it) */
#pragma unroll
    for (int i = 0; i < NL; i++)
        key[i] = lane + 32 * i < cnt ? w.idx[item * w.cap + lane + 32 * i] : -1;
    const float thr = w.tau[item];
    const float qf = cu_attn_qfactor(g, row, h), slope = g.slopes ? g.slopes[h] : 0.0f;
    for (int x = lane; x < g.d; x += 32) qv[x] = g.q[((size_t)row * g.H + h) * g.d + x] * qf;
    /* most listed keys are in the support: their value rows start towards the SM now, and are
     * there when τ is known */
#pragma unroll
    for (int i = 0; i < NL; i++)
        if (key[i] >= 0) prefetch_v<RC>(g, key[i], kvh);
    __syncwarp();
    float *ssc = (float *)sl; /* the scores pass through sl before the support does */
    list_scores<RC>(g, w.idx + item * w.cap, cnt, qv, kvh, slope, g.q0 + row, ssc);
    float sc[NL], mx = -INFINITY;
#pragma unroll
    for (int i = 0; i < NL; i++) {
        sc[i] = key[i] >= 0 ? ssc[lane + 32 * i] : -INFINITY;
        mx = fmaxf(mx, sc[i]);
    }
    __syncwarp(); /* qv and sl are free again */
    mx = cu_warp_max(mx);
    const float am1 = g.alpha - 1.0f;
    warp_row<NL> lr = {NULL, cnt, mx, am1, {}};
#pragma unroll
    for (int i = 0; i < NL; i++) {
        const float v = am1 * (sc[i] - mx);
        lr.reg[i] = v > -1.0f ? v : -INFINITY;
    }
    /* from the listing threshold of pass 1 (below the row's τ, cu_attn_ent_rows.cuh) */
    float tau = solve_tau_short(lr, g.alpha, am1 * (thr - mx));
    if (isnan(tau)) tau = (float)solve_tau(lr, lr.count(), g.alpha);
    const float ex = 1.0f / am1;
    float p[NL], psum = 0.0f;
#pragma unroll
    for (int i = 0; i < NL; i++) psum += p[i] = entmax_weight(lr.reg[i] - tau, g.alpha, ex);
    const int sup = pack_support<NL>(p, key, sl);
    float acc[RC];
    support_sum_list<RC>(g, kvh, sl, sup, acc);
    const int nf = g.stats ? __reduce_add_sync(0xffffffffu, first_of_tiles<NL>(p, key, sl, sup))
                           : 0;
    __syncwarp(); /* sl is the next row's */
    /* the closed forms' weights sum to 1 already; the converged solver's are normalised, as
     * on the CPU */
    float inv = 1.0f;
    if (g.alpha != 1.5f && g.alpha != 2.0f) {
        for (int off = 16; off > 0; off >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, off);
        inv = 1.0f / psum;
    }
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
    __shared__ float2 slsh[8][32 * LIST_SHORT];
    list_row<RC, LIST_SHORT>(g, w, item, cnt, qsh[threadIdx.x >> 5], slsh[threadIdx.x >> 5]);
}

/* The queued rows with lists of more than 32·LIST_SHORT entries, a warp each (grid-stride). */
template <int RC>
__global__ void __launch_bounds__(256) list_long(const cu_attn_geom g, const cu_ent_ws w,
                                                  const int *long_n, const int *lng) {
    __shared__ float qsh[8][128];
    __shared__ float2 slsh[8][32 * LIST_NL];
    const int n = *long_n;
    for (int e = blockIdx.x * 8 + (threadIdx.x >> 5); e < n; e += gridDim.x * 8) {
        const size_t item = (size_t)lng[e];
        list_row<RC, LIST_NL>(g, w, item, w.cnt[item], qsh[threadIdx.x >> 5],
                              slsh[threadIdx.x >> 5]);
    }
}

cudaError_t cu_attn_list_out_launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    const size_t items = (size_t)g->H * g->nq;
    if (w->cap > 32 * LIST_NL || !g->kv_bf16 || (g->dv != 64 && g->dv != 128))
        return cudaErrorNotSupported;
    const list_queues qu = cu_list_queues(g, w);
    int *ovf_n = qu.ovf_n, *ovf = qu.ovf, *long_n = qu.long_n, *lng = qu.lng;
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
    return cudaGetLastError();
}
