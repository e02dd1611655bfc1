/* cu_attn_ent_bf16.cu — the two QK-only tile passes of the bf16 α-entmax pipeline (precision
 * bf16, bf16 KV cache, head_dim = value_dim ∈ {64, 128}; docs/ATTENTION_MATH.md, "The CUDA
 * kernels"). Scores are formed on the tensor cores (mma.sync m16n8k16, bf16 operands, fp32
 * accumulation) in the same order by both passes, so both see the same bits of every score.
 *
 * A block is 4 warps and 64·MW query rows of one head; a warp owns MW m-tiles of 16 rows (its
 * stripe). Key tiles of 64 keys come into shared memory by cp.async, double-buffered; no V is
 * read and no P·V is formed here.
 *
 * CU_LIST_MAX (key tiles from the last to the first): per row the maximum m, NaN/+inf flags,
 * and the four largest of the thread's per-tile maxima (so a quad of threads holds 16 true
 * scores of the row); per (stripe, key tile) the largest score, or, for a tile not scored
 * because its Cauchy–Schwarz bound lies below every row's candidate gap, that bound. At the
 * end each row's listing threshold: the τ of its 16 sketched scores, found by bisection from
 * below, is a lower bound of the row's τ (a subset of the keys has a smaller threshold), so every
 * key of the support has (α−1)(s − m) above it.
 * CU_LIST_PICK: every key above the threshold is appended to its row's list as (score, key);
 * a tile whose stripe maximum lies below every threshold of the stripe is not scored.
 */
#include "cu_attn_ent_rows.cuh"
#include "cu_attn_ent_tma.h"
#include "cu_attn_internal.h"
#include "cu_mma_bf16.cuh"

#define EMAXT 1024 /* key tiles whose decisions a block keeps in shared memory (64k keys) */

template <int D, int MW> struct ent_smem {
    __nv_bfloat16 q[64 * MW][D + 8];
    __nv_bfloat16 k[2][EBK][D + 8];
    float top[64 * MW][4 * SKETCH + 1];
    float thr[64 * MW];
    int cnt[64 * MW];
    float wthr[4], wmin[4], mmin;
    int qn_bits, kn_bits;
    float ub[EMAXT];            /* pass 1: each tile's score bound (ent_decide) */
    unsigned char need[EMAXT];  /* pass 2: which warps need each tile */
};

template <int D, int MW>
__device__ void ent_load_k(ent_smem<D, MW> &s, int st, const cu_attn_geom &g, int kvh, int t) {
    constexpr int CH = D / 8;
    const __nv_bfloat16 *K = (const __nv_bfloat16 *)g.k;
    for (int c = threadIdx.x; c < EBK * CH; c += blockDim.x) {
        const int row = c / CH, col = (c % CH) * 8, key = t * EBK + row;
        const bool in = key < g.nk;
        mma_cp_async16(&s.k[st][row][col], K + (in ? ((size_t)key * g.Hk + kvh) * D + col : 0),
                       in ? 16 : 0);
    }
}

/* S (MW m-tiles × 64 keys) = Q'Kᵀ, K's fragments by ldmatrix and each used for every m-tile;
 * then soft cap, ALiBi and the visibility mask. */
template <int D, int MW>
__device__ void ent_scores(const ent_smem<D, MW> &s, int st, const uint32_t (*qf)[D / 16][4],
                           float (*S)[8][4],
                           const cu_attn_geom &g, const erow (*rw)[2], int j0, int pos0,
                           float slope) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int nc = 0; nc < 8; nc++)
#pragma unroll
            for (int e = 0; e < 4; e++) S[mw][nc][e] = 0.0f;
#pragma unroll
    for (int nc = 0; nc < 8; nc++)
#pragma unroll
        for (int kc = 0; kc < D / 16; kc += 2) {
            uint32_t b[4];
            mma_ldsm_x4(&s.k[st][nc * 8 + (lane & 7)][kc * 16 + (lane >> 3) * 8], b);
#pragma unroll
            for (int mw = 0; mw < MW; mw++) {
                mma_bf16_16816(S[mw][nc], qf[mw][kc], b[0], b[1]);
                mma_bf16_16816(S[mw][nc], qf[mw][kc + 1], b[2], b[3]);
            }
        }
#pragma unroll
    for (int mw = 0; mw < MW; mw++) ent_finish_mask(S[mw], g, rw[mw], j0, pos0, slope);
}

/* The largest key norm over the block's tiles [tf, tf + n_t) (NaN norms of NaN keys left out:
 * their rows are NaN anyway). Ends with a __syncthreads. */
template <int D, int MW>
__device__ float block_kmax(ent_smem<D, MW> &s, const cu_ent_ws &w, int kvh, int tf, int n_t) {
    float kn = 0.0f;
    for (int t = tf + (int)threadIdx.x; t < tf + n_t; t += blockDim.x)
        kn = fmaxf(kn, w.knorm[(size_t)kvh * w.nkt + t]);
    atomicMax(&s.kn_bits, __float_as_int(kn));
    __syncthreads();
    return __int_as_float(s.kn_bits);
}

/* End of pass 1: the rows' maxima and listing thresholds (rows_finish), the largest |k| taken
 * over the block's tiles [tf, tf + n_t). */
template <int D, int MW>
__device__ void max_finish(ent_smem<D, MW> &s, const erow (*rw)[2], const cu_attn_geom &g,
                           const cu_ent_ws &w, int h, int r0, int nr, int tf, int n_t) {
    sketch_store<MW>(rw, s.top, s.cnt);
    const float kmax = block_kmax<D, MW>(s, w, h / g.group, tf, n_t);
    rows_finish(s.top, s.cnt, s.thr, kmax, g, w, h, r0, nr, threadIdx.x, blockDim.x);
}

/* The block's setup: q' into shared memory as bf16, the rows' ranges, the listing thresholds
 * (pass 2: each warp's lowest in s.wthr); pass 1: each row's bf16 error factor
 * (bf16_error_factor) in s.thr and, for the tile bounds, the largest |q'| of the block. */
template <int D, int MODE, int MW>
__device__ void ent_setup(ent_smem<D, MW> &s, const cu_attn_geom &g, const cu_ent_ws &w,
                          erow (*rw)[2], int h, int r0, int nr) {
    constexpr int BQ = 64 * MW;
    const int tid = threadIdx.x, lane = tid & 31;
    for (int idx = tid; idx < BQ * D; idx += blockDim.x) {
        const int r = idx / D, x = idx % D;
        const float v = r < nr ? g.q[((size_t)(r0 + r) * g.H + h) * D + x] *
                                     cu_attn_qfactor(g, r0 + r, h)
                               : 0.0f;
        s.q[r][x] = __float2bfloat16_rn(v);
    }
    for (int r = tid; r < BQ; r += blockDim.x) s.cnt[r] = 0;
    if (tid == 0) s.qn_bits = 0, s.kn_bits = 0, s.mmin = -INFINITY;
    float wthr = INFINITY;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            erow &q = rw[mw][hr];
            erow_init(q, (tid >> 5) * 16 * MW + mw * 16 + (lane >> 2) + 8 * hr, g, r0, nr,
                      MODE == CU_LIST_PICK ? w.tau + (size_t)h * g.nq : NULL);
            wthr = fminf(wthr, q.thr);
        }
    for (int o = 16; o > 0; o >>= 1) wthr = fminf(wthr, __shfl_xor_sync(0xffffffffu, wthr, o));
    if (lane == 0) s.wthr[tid >> 5] = wthr;
    __syncthreads();
    if constexpr (MODE == CU_LIST_MAX) {
        for (int r = tid; r < BQ; r += blockDim.x) { /* the error factor, |q'| of the bf16 q' */
            float q2 = 0.0f, b2 = 0.0f, e2 = 0.0f;
            for (int x = 0; x < D && r < nr; x++) {
                const float v =
                    g.q[((size_t)(r0 + r) * g.H + h) * D + x] * cu_attn_qfactor(g, r0 + r, h);
                const float b = __bfloat162float(s.q[r][x]);
                q2 += v * v, b2 += b * b, e2 += (v - b) * (v - b);
            }
            s.thr[r] = bf16_error_factor(e2, q2, D);
            atomicMax(&s.qn_bits, __float_as_int(sqrtf(b2) * (1.0f + 1e-3f)));
        }
        __syncthreads();
    }
}

/* The warp's q' fragments (A operands) from shared memory. */
template <int D, int MW>
__device__ void ent_qfrag(const __nv_bfloat16 (*q)[D + 8], uint32_t (*f)[D / 16][4]) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g8 = lane >> 2, t4 = lane & 3;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++) {
            const __nv_bfloat16 *p = &q[warp * 16 * MW + mw * 16 + g8][kc * 16 + 2 * t4];
            f[mw][kc][0] = *(const uint32_t *)p;
            f[mw][kc][1] = *(const uint32_t *)(p + 8 * (D + 8));
            f[mw][kc][2] = *(const uint32_t *)(p + 8);
            f[mw][kc][3] = *(const uint32_t *)(p + 8 * (D + 8) + 8);
        }
}

/* One key tile t of the block in the mode's way (see the file's head); want: this warp scores it
 * (pass 2). */
template <int D, int MODE, int MW>
__device__ void ent_tile(ent_smem<D, MW> &s, int stg, const uint32_t (*qf)[D / 16][4],
                         erow (*rw)[2], const cu_attn_geom &g, const cu_ent_ws &w, int h, int r0,
                         int nr, int t, bool want, bool bound, float slope) {
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int stripe = (r0 / (64 * MW)) * 4 + warp; /* the warp's rows in the tile-maximum table */
    float S[MW][8][4];
    if (MODE == CU_LIST_PICK) {
        if (!want) return;
        ent_scores<D, MW>(s, stg, qf, S, g, rw, t * EBK, g.q0 + r0, slope);
        step_pick<MW>(S, rw, g, w, h, r0, t * EBK);
        return;
    }
    ent_scores<D, MW>(s, stg, qf, S, g, rw, t * EBK, g.q0 + r0, slope);
    float wlo;
    const float wm = step_max<MW>(S, rw, nr, bound, &wlo);
    if (lane == 0 && stripe < w.nqb) w.tmax[((size_t)h * w.nqb + stripe) * w.nkt + t] = wm;
    if (bound) {
        if (lane == 0) s.wmin[warp] = wlo;
        __syncthreads();
        if (tid == 0) s.mmin = fminf(fminf(s.wmin[0], s.wmin[1]), fminf(s.wmin[2], s.wmin[3]));
    }
}

/* What the block decides per key tile before it visits them, so that no decision waits on a
 * global load inside the tile loop: pass 1 the tile's score bound (its test against the
 * running maxima stays in the loop), pass 2 which of the warps need the tile. Blocks with more
 * than EMAXT tiles decide in the loop. Ends with a __syncthreads. */
template <int D, int MODE, int MW>
__device__ void ent_decide(ent_smem<D, MW> &s, const cu_attn_geom &g, const cu_ent_ws &w, int h,
                           int qb, int r0, int nr, int tf, int n_t, bool bound, float qn,
                           float slope) {
    const float *tmax = w.tmax + (size_t)h * w.nqb * w.nkt;
    for (int i = threadIdx.x; i < n_t && n_t <= EMAXT; i += blockDim.x) {
        const int t = tf + i;
        if (MODE == CU_LIST_PICK) {
            unsigned need = 0;
            for (int wp = 0; wp < 4; wp++)
                if (qb * 4 + wp < w.nqb && tmax[(size_t)(qb * 4 + wp) * w.nkt + t] >= s.wthr[wp])
                    need |= 1u << wp;
            s.need[i] = (unsigned char)need;
        } else if (bound) {
            s.ub[i] = cu_attn_tile_bound(g, w, h / g.group, qn, slope, t, g.q0 + r0,
                                         g.q0 + r0 + nr - 1);
        }
    }
    __syncthreads();
}

template <int D, int MODE, int MW>
__global__ void __launch_bounds__(128) ent_pass(const cu_attn_geom g, const cu_ent_ws w) {
    constexpr int BQ = 64 * MW;
    extern __shared__ __align__(16) unsigned char smraw[];
    ent_smem<D, MW> &s = *reinterpret_cast<ent_smem<D, MW> *>(smraw);
    const int tid = threadIdx.x, warp = tid >> 5;
    const int h = blockIdx.y, kvh = h / g.group;
    const int qb = gridDim.x - 1 - blockIdx.x, r0 = qb * BQ, nr = min(BQ, g.nq - r0);
    const float slope = g.slopes ? g.slopes[h] : 0.0f;
    /* tile bounds pay in prefill (in decode they would cost as much as the scores they save)
     * and with ALiBi (|q'|·|k| alone is far above the scores of a row) */
    const bool bound = MODE == CU_LIST_MAX && g.nq >= 64 && slope != 0.0f;
    erow rw[MW][2];
    ent_setup<D, MODE, MW>(s, g, w, rw, h, r0, nr);
    uint32_t qf[MW][D / 16][4];
    ent_qfrag<D, MW>(s.q, qf);
    const float qn = __int_as_float(s.qn_bits);
    int blo, bhi, tmp;
    cu_attn_visible(g, g.q0 + r0, &blo, &tmp);
    cu_attn_visible(g, g.q0 + r0 + nr - 1, &tmp, &bhi);
    const int tf = blo / EBK, n_t = bhi > blo ? (bhi - 1) / EBK - tf + 1 : 0;
    const bool pre = n_t <= EMAXT;
    ent_decide<D, MODE, MW>(s, g, w, h, qb, r0, nr, tf, n_t, bound, qn, slope);
    float *tmax = w.tmax + (size_t)h * w.nqb * w.nkt;
    /* pass 1 goes from the nearest tile to the farthest (the maxima grow early, so the bounds
     * skip more); pass 2 loads a tile only if one of its warps needs it */
    auto tile_at = [&](int it) { return MODE == CU_LIST_PICK ? tf + it : tf + n_t - 1 - it; };
    auto needs = [&](int wp, int t) -> bool {
        if (pre) return (s.need[t - tf] >> wp) & 1u;
        return qb * 4 + wp < w.nqb && tmax[(size_t)(qb * 4 + wp) * w.nkt + t] >= s.wthr[wp];
    };
    auto visit = [&](int it) -> bool {
        const int t = tile_at(it);
        if (MODE == CU_LIST_PICK)
            return pre ? s.need[t - tf] != 0
                       : needs(0, t) || needs(1, t) || needs(2, t) || needs(3, t);
        if (!bound) return true;
        const float u = pre ? s.ub[t - tf]
                            : cu_attn_tile_bound(g, w, kvh, qn, slope, t, g.q0 + r0,
                                                 g.q0 + r0 + nr - 1);
        if (!cu_attn_below_gap(g.alpha - 1.0f, u, s.mmin)) return true;
        if (tid < 4 && qb * 4 + tid < w.nqb) tmax[(size_t)(qb * 4 + tid) * w.nkt + t] = u;
        return false;
    };
    int it = 0, stg = 0;
    while (it < n_t && !visit(it)) it++;
    if (it < n_t) ent_load_k<D, MW>(s, 0, g, kvh, tile_at(it));
    mma_cp_commit();
    while (it < n_t) {
        int nx = it + 1;
        while (nx < n_t && !visit(nx)) nx++;
        if (nx < n_t) ent_load_k<D, MW>(s, stg ^ 1, g, kvh, tile_at(nx));
        mma_cp_commit();
        mma_cp_wait<1>();
        __syncthreads();
        const int t = tile_at(it);
        ent_tile<D, MODE, MW>(s, stg, qf, rw, g, w, h, r0, nr, t,
                              MODE == CU_LIST_PICK && needs(warp, t), bound, slope);
        __syncthreads();
        it = nx, stg ^= 1;
    }
    if (MODE == CU_LIST_MAX) {
        max_finish<D, MW>(s, rw, g, w, h, r0, nr, tf, n_t);
    } else {
        __syncthreads();
#pragma unroll
        for (int mw = 0; mw < MW; mw++)
#pragma unroll
            for (int hr = 0; hr < 2; hr++)
                if ((tid & 3) == 0 && rw[mw][hr].r < nr)
                    w.cnt[(size_t)h * g.nq + r0 + rw[mw][hr].r] = rw[mw][hr].n;
    }
}

/* m-tiles of 16 rows per warp: 1 (on an H200 at head size 64, entmax-1.5 over 16k keys took
 * 5.41 ms with 1 and 6.09 ms with 2: the registers of 2 leave half the warps per SM, and the
 * listing step's work per thread doubles). SPARSA_CUDA_ENTMAX_MW=2 gives 2 at head size 64
 * (each K fragment then serves two m-tiles). */
static int rows_per_warp(int head_dim) {
    static int env = -1;
    if (env < 0) {
        const char *e = getenv("SPARSA_CUDA_ENTMAX_MW");
        env = e && (e[0] == '1' || e[0] == '2') && !e[1] ? e[0] - '0' : 0;
    }
    return head_dim != 64 ? 1 : env ? env : 1;
}

int cu_attn_list_stripe(int head_dim) { return 16 * rows_per_warp(head_dim); }

template <int D, int MODE, int MW>
static cudaError_t launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    const size_t smem = sizeof(ent_smem<D, MW>);
    static unsigned ready; /* devices whose attribute is set for this kernel */
    cudaError_t e = cu_attn_allow_smem((const void *)ent_pass<D, MODE, MW>, smem, &ready);
    if (e != cudaSuccess) return e;
    const dim3 grid((unsigned)((g->nq + 64 * MW - 1) / (64 * MW)), (unsigned)g->H);
    ent_pass<D, MODE, MW><<<grid, 128, smem, st>>>(*g, *w);
    return cudaGetLastError();
}

/* The Hopper kernel's variant for this call (cu_attn_ent_tma.h), or 0 for the mma.sync kernel.
 * SPARSA_CUDA_ENTMAX_PASS: "s" the mma.sync kernel; a|b|c a variant of the Hopper kernel
 * (default b, where it can run). Read at every call, the same for both passes of a call. On an
 * H200 (12 heads, d 64, causal, random q/k/v) the Hopper passes took 0.78 + 0.71 ms at 16k keys
 * for entmax-1.5 (0.75 + 0.69 with the shorter lists since), the mma.sync ones 1.43 + 1.80;
 * with ALiBi on half the heads (ASEntmax) 0.70 + 0.38 against 0.96 + 0.98 (both skip tiles by
 * their score bounds). */
static char hopper_variant(void) {
    const char *e = getenv("SPARSA_CUDA_ENTMAX_PASS");
    if (e && e[0] == 's') return 0;
    return e && e[0] >= 'a' && e[0] <= 'c' ? e[0] : 'b';
}

cudaError_t cu_attn_list_pass_launch(const cu_attn_geom *g, const cu_ent_ws *w, int pass,
                                     cudaStream_t st) {
    if (!cu_attn_bf16_ok(g) || w->bq != cu_attn_list_stripe(g->d) || !w->knorm)
        return cudaErrorNotSupported;
    const char v = hopper_variant();
    if (v) { /* where it cannot run (for both passes alike), the mma.sync kernel */
        const cudaError_t e = cu_attn_ent_tma_launch(g, w, pass, v, st);
        if (e != cudaErrorNotSupported) return e;
    }
    const int mw = rows_per_warp(g->d);
    if (pass == CU_LIST_MAX)
        return g->d == 128 ? launch<128, CU_LIST_MAX, 1>(g, w, st)
               : mw == 2   ? launch<64, CU_LIST_MAX, 2>(g, w, st)
                           : launch<64, CU_LIST_MAX, 1>(g, w, st);
    return g->d == 128 ? launch<128, CU_LIST_PICK, 1>(g, w, st)
           : mw == 2   ? launch<64, CU_LIST_PICK, 2>(g, w, st)
                       : launch<64, CU_LIST_PICK, 1>(g, w, st);
}
