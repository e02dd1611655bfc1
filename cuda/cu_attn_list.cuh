/* cu_attn_list.cuh — device helpers of the bf16 α-entmax list pipeline's last step, shared by
 * its two output kernels (header only): cu_attn_sparse.cu (rows whose list fits, a warp each)
 * and cu_attn_overflow.cu (rows whose list overflowed, a block each). One value row's columns,
 * the fp32 score of one key, one weight, one row's statistics, and where the rows queued
 * for the second and third kernels are kept (docs/ATTENTION_MATH.md, "The CUDA kernels").
 */
#ifndef SPARSA_CU_ATTN_LIST_CUH
#define SPARSA_CU_ATTN_LIST_CUH

#include "cu_attn_internal.h"

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
static __device__ __forceinline__ void row_stats(const cu_attn_geom &g, int h, int lo, int hi,
                                                 int sup, int stiles, bool nanrow) {
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
__device__ __forceinline__ float exact_score(const cu_attn_geom &g, const float *qv, int j,
                                             int kvh, float slope, int i) {
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

/* The weight of a key at x − τ = dd: [dd]_+^(1/(α−1)), ex = 1/(α−1). */
static __device__ __forceinline__ float entmax_weight(float dd, float alpha, float ex) {
    if (!(dd > 0.0f)) return 0.0f;
    return alpha == 1.5f ? dd * dd : alpha == 2.0f ? dd : powf(dd, ex);
}

/* The two queues of rows the output step keeps after w->cnt's H·nq lengths: the rows whose
 * list overflowed (count, then items) and the rows with long lists (count, then items). */
struct list_queues {
    int *ovf_n, *ovf, *long_n, *lng;
};
static inline list_queues cu_list_queues(const cu_attn_geom *g, const cu_ent_ws *w) {
    const size_t items = (size_t)g->H * g->nq;
    list_queues q;
    q.ovf_n = w->cnt + items, q.ovf = q.ovf_n + 1, q.long_n = q.ovf + items, q.lng = q.long_n + 1;
    return q;
}

#endif
