/* cu_attn_tile_bf16.cu — the generic bf16 tensor-core softmax kernel (precision bf16, bf16 KV
 * cache, head_dim = value_dim ∈ {64, 128}): FlashAttention-2's layout on mma.sync m16n8k16 with
 * fp32 accumulation, for every option the fast path of cu_attn_flash_bf16.cu leaves out (ALiBi,
 * soft cap, window, statistics, decode; docs/ATTENTION_MATH.md, "The CUDA kernels"). The
 * α-entmax family has its own bf16 pipeline (cu_attn_ent_bf16.cu, cu_attn_sparse.cu).
 *
 * A block is 4 warps and 64·MW query rows of one head; each warp owns MW m-tiles of 16 rows
 * (MW = 2 lets every K and V fragment serve two m-tiles). Key tiles of 64 keys are brought
 * into shared memory with cp.async, double-buffered (the next tile loads while the current one
 * is computed). S = Q'Kᵀ stays in registers (the accumulator layout of the mma: a thread holds
 * rows g and g+8 of each of its m-tiles, keys 2t, 2t+1 of each group of 8), is soft-capped,
 * biased and masked there, turned into weights in place (online softmax) and fed back as the A
 * operand of P·V without touching shared memory; V's B operand comes from ldmatrix.trans.
 */
#include "cu_attn_internal.h"
#include "cu_mma_bf16.cuh"

#define BK 64
#define L2E 1.4426950408889634f

__device__ __forceinline__ uint32_t lds32(const __nv_bfloat16 *p) {
    return *(const uint32_t *)p;
}

/* Shared memory: rows padded by 8 elements so that the 8 rows a fragment load touches fall in
 * distinct banks. */
template <int D, int MW> struct bf_smem {
    __nv_bfloat16 q[64 * MW][D + 8];
    __nv_bfloat16 k[2][BK][D + 8];
    __nv_bfloat16 v[2][BK][D + 8];
    unsigned long long st[5];
};

/* What a thread knows of two of its rows (g and g+8 of one of its warp's m-tiles of 16). */
struct rows2 {
    int r[2], lo[2], hi[2], sup[2];
    float m[2], l[2];
};

/* K and V of key tile t into stage st; keys past nk are zero-filled. */
template <int D, int MW>
__device__ void load_tile(bf_smem<D, MW> &s, int st, const cu_attn_geom &g, int kvh, int t) {
    constexpr int CH = D / 8; /* 16-byte chunks per row */
    const __nv_bfloat16 *K = (const __nv_bfloat16 *)g.k, *V = (const __nv_bfloat16 *)g.v;
    for (int c = threadIdx.x; c < BK * CH; c += blockDim.x) {
        const int row = c / CH, col = (c % CH) * 8, key = t * BK + row;
        const bool in = key < g.nk;
        const size_t off = in ? ((size_t)key * g.Hk + kvh) * D + col : 0;
        mma_cp_async16(&s.k[st][row][col], K + off, in ? 16 : 0);
        mma_cp_async16(&s.v[st][row][col], V + off, in ? 16 : 0);
    }
}

/* S (MW m-tiles of 16 rows × 64 keys of this warp) = Q'Kᵀ, each K fragment read once for
 * every m-tile, then soft cap, ALiBi and the visibility mask. */
template <int D, int MW>
__device__ void bf16_tile_scores(const bf_smem<D, MW> &s, int st, const uint32_t (*qf)[D / 16][4],
                                 float (*S)[8][4], const cu_attn_geom &g, const rows2 *rw, int j0,
                                 int pos0, float slope) {
    const int lane = threadIdx.x & 31, g8 = lane >> 2, t4 = lane & 3;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int nc = 0; nc < 8; nc++)
#pragma unroll
            for (int e = 0; e < 4; e++) S[mw][nc][e] = 0.0f;
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++)
#pragma unroll
        for (int nc = 0; nc < 8; nc++) {
            const __nv_bfloat16 *kp = &s.k[st][nc * 8 + g8][kc * 16 + 2 * t4];
            const uint32_t b0 = lds32(kp), b1 = lds32(kp + 8);
#pragma unroll
            for (int mw = 0; mw < MW; mw++) mma_bf16_16816(S[mw][nc], qf[mw][kc], b0, b1);
        }
#pragma unroll
    for (int mw = 0; mw < MW; mw++) {
        if (g.softcap > 0.0f || slope != 0.0f)
#pragma unroll
            for (int nc = 0; nc < 8; nc++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    S[mw][nc][e] = cu_attn_finish(g, S[mw][nc][e], slope, pos0 + rw[mw].r[e >> 1],
                                                  j0 + nc * 8 + 2 * t4 + (e & 1));
        /* most tiles lie inside both rows' visible ranges: no mask */
        const rows2 &r = rw[mw];
        if (j0 >= r.lo[0] && j0 >= r.lo[1] && j0 + BK <= r.hi[0] && j0 + BK <= r.hi[1]) continue;
#pragma unroll
        for (int nc = 0; nc < 8; nc++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int hr = e >> 1, j = j0 + nc * 8 + 2 * t4 + (e & 1);
                if (j < r.lo[hr] || j >= r.hi[hr]) S[mw][nc][e] = -INFINITY;
            }
    }
}

/* O += P·V over the tile, P (in S) rounded to bf16 as the A operand; each V fragment read once
 * for every m-tile. */
template <int D, int MW>
__device__ void tile_pv(const bf_smem<D, MW> &s, int st, const float (*S)[8][4],
                        float (*O)[D / 8][4]) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t a[MW][4];
#pragma unroll
        for (int mw = 0; mw < MW; mw++) {
            a[mw][0] = mma_pack_bf16(S[mw][2 * kk][0], S[mw][2 * kk][1]);
            a[mw][1] = mma_pack_bf16(S[mw][2 * kk][2], S[mw][2 * kk][3]);
            a[mw][2] = mma_pack_bf16(S[mw][2 * kk + 1][0], S[mw][2 * kk + 1][1]);
            a[mw][3] = mma_pack_bf16(S[mw][2 * kk + 1][2], S[mw][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dc = 0; dc < D / 8; dc += 2) {
            uint32_t b[4];
            mma_ldsm_x4_trans(&s.v[st][kk * 16 + (lane & 15)][dc * 8 + (lane >> 4) * 8], b);
#pragma unroll
            for (int mw = 0; mw < MW; mw++) {
                mma_bf16_16816(O[mw][dc], a[mw], b[0], b[1]);
                mma_bf16_16816(O[mw][dc + 1], a[mw], b[2], b[3]);
            }
        }
    }
}

__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

/* Online softmax on the tile's scores (in place into weights), rescaling O. */
template <int D>
__device__ void step_softmax(float (*S)[4], float (*O)[4], rows2 &rw, bool stats) {
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        float mx = -INFINITY;
        for (int nc = 0; nc < 8; nc++) mx = fmaxf(mx, fmaxf(S[nc][2 * hr], S[nc][2 * hr + 1]));
        mx = quad_max(mx);
        const float mnew = fmaxf(rw.m[hr], mx), msafe = mnew == -INFINITY ? 0.0f : mnew;
        const float al = exp2f((rw.m[hr] - msafe) * L2E), mb = msafe * L2E;
        float sum = 0.0f;
#pragma unroll
        for (int nc = 0; nc < 8; nc++)
            for (int e = 2 * hr; e < 2 * hr + 2; e++) {
                const float p = exp2f(S[nc][e] * L2E - mb);
                S[nc][e] = p;
                sum += p;
                if (stats) rw.sup[hr] += p != 0.0f;
            }
        rw.l[hr] = rw.l[hr] * al + sum; /* this thread's share; the quad's is summed at the end */
        rw.m[hr] = mnew;
        for (int dc = 0; dc < D / 8; dc++) O[dc][2 * hr] *= al, O[dc][2 * hr + 1] *= al;
    }
}

/* The block's setup: q' into shared memory as bf16, the rows' ranges. */
template <int D, int MW>
__device__ void block_setup(bf_smem<D, MW> &s, const cu_attn_geom &g, rows2 *rw, int h, int r0,
                            int nr) {
    constexpr int BQ = 64 * MW;
    const int tid = threadIdx.x, lane = tid & 31;
    for (int idx = tid; idx < BQ * D; idx += blockDim.x) {
        const int r = idx / D, x = idx % D;
        const size_t at = ((size_t)(r0 + r) * g.H + h) * D + x;
        s.q[r][x] = __float2bfloat16_rn(r < nr ? g.q[at] * cu_attn_qfactor(g, r0 + r, h) : 0.0f);
    }
    if (tid < 5) s.st[tid] = 0;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const int r = (tid >> 5) * 16 * MW + mw * 16 + (lane >> 2) + 8 * hr;
            rw[mw].r[hr] = r;
            rw[mw].lo[hr] = rw[mw].hi[hr] = 0;
            if (r < nr) cu_attn_visible(g, g.q0 + r0 + r, &rw[mw].lo[hr], &rw[mw].hi[hr]);
            rw[mw].m[hr] = -INFINITY;
            rw[mw].l[hr] = 0.0f;
            rw[mw].sup[hr] = 0;
        }
    __syncthreads();
}

/* One row's output O/ℓ and statistics. */
template <int D, int MW>
__device__ __forceinline__ void finish_row(bf_smem<D, MW> &s, const cu_attn_geom &g,
                                           const rows2 &rw, const float (*O)[4], int hr, int h,
                                           int row) {
    const int t4 = threadIdx.x & 3;
    const float inv = rw.l[hr] == 0.0f ? 0.0f : 1.0f / rw.l[hr];
    float *o = g.out + ((size_t)row * g.H + h) * D + 2 * t4;
    for (int dc = 0; dc < D / 8; dc++)
        *(float2 *)(o + dc * 8) = make_float2(O[dc][2 * hr] * inv, O[dc][2 * hr + 1] * inv);
    if (g.stats && t4 == 0) {
        atomicAdd(&s.st[0], 1ull);
        atomicAdd(&s.st[1], (unsigned long long)rw.sup[hr]);
        atomicAdd(&s.st[2], (unsigned long long)(rw.hi[hr] - rw.lo[hr]));
    }
}

/* The rows' outputs and the statistics. */
template <int D, int MW>
__device__ void block_finish(bf_smem<D, MW> &s, const cu_attn_geom &g, rows2 *rw,
                             float (*O)[D / 8][4], int h, int r0, int nr) {
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            rows2 &q = rw[mw];
            q.l[hr] = quad_sum(q.l[hr]);
            q.sup[hr] += __shfl_xor_sync(0xffffffffu, q.sup[hr], 1);
            q.sup[hr] += __shfl_xor_sync(0xffffffffu, q.sup[hr], 2);
            if (q.r[hr] < nr) finish_row<D, MW>(s, g, q, O[mw], hr, h, r0 + q.r[hr]);
        }
    if (!g.stats) return;
    __syncthreads();
    if (threadIdx.x == 0)
        for (int k = 0; k < 5; k++) atomicAdd(&((unsigned long long *)&g.stats[h])[k], s.st[k]);
}

template <int D, int MW>
__global__ void __launch_bounds__(128) tile_bf16(const cu_attn_geom g) {
    constexpr int BQ = 64 * MW;
    extern __shared__ __align__(16) unsigned char smraw[];
    bf_smem<D, MW> &s = *reinterpret_cast<bf_smem<D, MW> *>(smraw);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g8 = lane >> 2, t4 = lane & 3;
    const int h = blockIdx.y, kvh = h / g.group;
    const int qb = gridDim.x - 1 - blockIdx.x, r0 = qb * BQ, nr = min(BQ, g.nq - r0);
    const float slope = g.slopes ? g.slopes[h] : 0.0f;
    rows2 rw[MW];
    block_setup<D, MW>(s, g, rw, h, r0, nr);
    uint32_t qf[MW][D / 16][4];
    float O[MW][D / 8][4];
#pragma unroll
    for (int mw = 0; mw < MW; mw++) {
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++) {
            const __nv_bfloat16 *qp = &s.q[warp * 16 * MW + mw * 16 + g8][kc * 16 + 2 * t4];
            qf[mw][kc][0] = lds32(qp), qf[mw][kc][1] = lds32(qp + 8 * (D + 8));
            qf[mw][kc][2] = lds32(qp + 8), qf[mw][kc][3] = lds32(qp + 8 * (D + 8) + 8);
        }
#pragma unroll
        for (int dc = 0; dc < D / 8; dc++)
#pragma unroll
            for (int e = 0; e < 4; e++) O[mw][dc][e] = 0.0f;
    }
    int blo, bhi, tmp;
    cu_attn_visible(g, g.q0 + r0, &blo, &tmp);
    cu_attn_visible(g, g.q0 + r0 + nr - 1, &tmp, &bhi);
    const int tf = blo / BK, n_t = bhi > blo ? (bhi - 1) / BK - tf + 1 : 0;
    if (n_t > 0) load_tile<D, MW>(s, 0, g, kvh, tf);
    mma_cp_commit();
    for (int it = 0, stg = 0; it < n_t; it++, stg ^= 1) {
        if (it + 1 < n_t) load_tile<D, MW>(s, stg ^ 1, g, kvh, tf + it + 1);
        mma_cp_commit();
        mma_cp_wait<1>();
        __syncthreads();
        float S[MW][8][4];
        bf16_tile_scores<D, MW>(s, stg, qf, S, g, rw, (tf + it) * BK, g.q0 + r0, slope);
#pragma unroll
        for (int mw = 0; mw < MW; mw++) step_softmax<D>(S[mw], O[mw], rw[mw], g.stats != NULL);
        tile_pv<D, MW>(s, stg, S, O);
        __syncthreads();
    }
    block_finish<D, MW>(s, g, rw, O, h, r0, nr);
}

/* m-tiles of 16 rows per warp: 2 at head size 64 (128 rows a block, each K and V fragment used
 * twice: about 10% faster on an H200), 1 at 128 (the registers). SPARSA_CUDA_ATTN_MW=1|2
 * overrides it at head size 64 (tuning). */
static int rows_per_warp(const cu_attn_geom *g) {
    static int env = -1;
    if (env < 0) {
        const char *e = getenv("SPARSA_CUDA_ATTN_MW");
        env = e && (e[0] == '1' || e[0] == '2') && !e[1] ? e[0] - '0' : 0;
    }
    if (g->d != 64) return 1;
    return env ? env : 2;
}

int cu_attn_bf16_ok(const cu_attn_geom *g) {
    return g->kv_bf16 && g->d == g->dv && (g->d == 64 || g->d == 128);
}

template <int D, int MW> static cudaError_t launch(const cu_attn_geom *g, cudaStream_t st) {
    const size_t smem = sizeof(bf_smem<D, MW>);
    static unsigned ready; /* devices whose attribute is set for this kernel */
    cudaError_t e = cu_attn_allow_smem((const void *)tile_bf16<D, MW>, smem, &ready);
    if (e != cudaSuccess) return e;
    const dim3 grid((unsigned)((g->nq + 64 * MW - 1) / (64 * MW)), (unsigned)g->H);
    tile_bf16<D, MW><<<grid, 128, smem, st>>>(*g);
    return cudaGetLastError();
}

cudaError_t cu_attn_bf16_softmax_launch(const cu_attn_geom *g, cudaStream_t st) {
    if (!cu_attn_bf16_ok(g)) return cudaErrorNotSupported;
    if (g->d == 128) return launch<128, 1>(g, st);
    return rows_per_warp(g) == 2 ? launch<64, 2>(g, st) : launch<64, 1>(g, st);
}
