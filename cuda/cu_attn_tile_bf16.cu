/* cu_attn_tile_bf16.cu — the bf16 tensor-core tile kernel (precision bf16, bf16 KV cache,
 * head_dim = value_dim ∈ {64, 128}): FlashAttention-2's layout on mma.sync m16n8k16 with fp32
 * accumulation (docs/ATTENTION_MATH.md, "The CUDA kernels").
 *
 * A block is 4 warps and 64·MW query rows of one head; each warp owns MW m-tiles of 16 rows
 * (MW = 2 lets every K and V fragment serve two m-tiles). Key tiles of 64 keys are brought
 * into shared memory with cp.async, double-buffered (the next tile loads while the current one
 * is computed). S = Q'Kᵀ stays in registers (the accumulator layout of the mma: a thread holds
 * rows g and g+8 of each of its m-tiles, keys 2t, 2t+1 of each group of 8), is soft-capped,
 * biased and masked there, turned into weights in place and fed back as the A operand of P·V
 * without touching shared memory; V's B operand comes from ldmatrix.trans.
 *
 * The modes are those of the fp32 kernel (cu_attn_internal.h): online softmax; the entmax
 * gather pass (key tiles from the last to the first, running maxima, candidates, tile maxima);
 * the entmax output pass over the tiles that can hold support. Unlike the fp32 kernel, a key
 * of weight 0 is still multiplied into the tensor-core product, so a NaN value row would reach
 * rows that do not attend to it; the cache rows a call reads are finite in practice.
 */
#include "cu_attn_internal.h"

#define BK 64
#define L2E 1.4426950408889634f

__device__ __forceinline__ uint32_t lds32(const __nv_bfloat16 *p) {
    return *(const uint32_t *)p;
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(uint32_t *)&v;
}

__device__ __forceinline__ void mma16816(float *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldsm_x4_trans(const __nv_bfloat16 *p, uint32_t *r) {
    const unsigned addr = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void cp_async16(void *dst, const void *src, int bytes) {
    const unsigned a = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(a), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_wait1() { asm volatile("cp.async.wait_group 1;\n" ::); }

/* Shared memory: rows padded by 8 elements so that the 8 rows a fragment load touches fall in
 * distinct banks. */
template <int D, int MW> struct bf_smem {
    __nv_bfloat16 q[64 * MW][D + 8];
    __nv_bfloat16 ql[64 * MW][D + 8]; /* q' − q (the rounding residual; entmax passes) */
    __nv_bfloat16 k[2][BK][D + 8];
    __nv_bfloat16 v[2][BK][D + 8];
    float wmax[4], wmin[4], mmin;
    int qn_bits;
    float thr[64 * MW];
    int cnt[64 * MW];
    unsigned long long st[5];
};

/* What a thread knows of two of its rows (g and g+8 of one of its warp's m-tiles of 16). */
struct rows2 {
    int r[2], lo[2], hi[2], sup[2], stiles[2], last64[2], bad[2];
    float m[2], l[2], tau[2];
};

/* K (and V) of key tile t into stage st; keys past nk are zero-filled. */
template <int D, int MW, bool WITH_V>
__device__ void load_tile(bf_smem<D, MW> &s, int st, const cu_attn_geom &g, int kvh, int t) {
    constexpr int CH = D / 8; /* 16-byte chunks per row */
    const __nv_bfloat16 *K = (const __nv_bfloat16 *)g.k, *V = (const __nv_bfloat16 *)g.v;
    for (int c = threadIdx.x; c < BK * CH; c += blockDim.x) {
        const int row = c / CH, col = (c % CH) * 8, key = t * BK + row;
        const bool in = key < g.nk;
        const size_t off = in ? ((size_t)key * g.Hk + kvh) * D + col : 0;
        cp_async16(&s.k[st][row][col], K + off, in ? 16 : 0);
        if (WITH_V) cp_async16(&s.v[st][row][col], V + off, in ? 16 : 0);
    }
}

/* S (MW m-tiles of 16 rows × 64 keys of this warp) = Q'Kᵀ, each K fragment read once for
 * every m-tile, then soft cap, ALiBi and the visibility mask. SPLIT: q' as the sum of two bf16
 * parts (qf + ql), so the scores carry only the cache's rounding and fp32 accumulation — the
 * entmax family's thresholds need them (docs/ATTENTION_MATH.md, "The CUDA kernels"). */
template <int D, int MW, bool SPLIT>
__device__ void bf16_tile_scores(const bf_smem<D, MW> &s, int st, const uint32_t (*qf)[D / 16][4],
                            const uint32_t (*ql)[D / 16][4], float (*S)[8][4],
                            const cu_attn_geom &g, const rows2 *rw, int j0, int pos0,
                            float slope) {
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
            for (int mw = 0; mw < MW; mw++) {
                mma16816(S[mw][nc], qf[mw][kc], b0, b1);
                if (SPLIT) mma16816(S[mw][nc], ql[mw][kc], b0, b1);
            }
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
 * for every m-tile whose flag in pv is set. */
template <int D, int MW>
__device__ void tile_pv(const bf_smem<D, MW> &s, int st, const float (*S)[8][4],
                        float (*O)[D / 8][4], const bool *pv) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        uint32_t a[MW][4];
#pragma unroll
        for (int mw = 0; mw < MW; mw++) {
            a[mw][0] = pack_bf16(S[mw][2 * kk][0], S[mw][2 * kk][1]);
            a[mw][1] = pack_bf16(S[mw][2 * kk][2], S[mw][2 * kk][3]);
            a[mw][2] = pack_bf16(S[mw][2 * kk + 1][0], S[mw][2 * kk + 1][1]);
            a[mw][3] = pack_bf16(S[mw][2 * kk + 1][2], S[mw][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dc = 0; dc < D / 8; dc += 2) {
            uint32_t b[4];
            ldsm_x4_trans(&s.v[st][kk * 16 + (lane & 15)][dc * 8 + (lane >> 4) * 8], b);
#pragma unroll
            for (int mw = 0; mw < MW; mw++)
                if (pv[mw]) {
                    mma16816(O[mw][dc], a[mw], b[0], b[1]);
                    mma16816(O[mw][dc + 1], a[mw], b[2], b[3]);
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

/* Entmax pass 1 on the tile: running maxima, candidates appended; returns the warp's tile
 * maximum, and its smallest running row maximum in *wmin. */
template <class SM>
__device__ float step_gather(SM &s, const float (*S)[4], rows2 &rw, const cu_attn_geom &g,
                             const cu_ent_ws &w, int h, int r0, int nr, float *wmin) {
    const float am1 = g.alpha - 1.0f;
    float wm = -INFINITY;
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        float mx = -INFINITY;
        int badt = 0;
#pragma unroll
        for (int nc = 0; nc < 8; nc++)
            for (int e = 2 * hr; e < 2 * hr + 2; e++) {
                mx = fmaxf(mx, S[nc][e]);
                badt |= isnan(S[nc][e]) || S[nc][e] == INFINITY;
            }
        mx = quad_max(mx);
        badt |= __shfl_xor_sync(0xffffffffu, badt, 1);
        badt |= __shfl_xor_sync(0xffffffffu, badt, 2);
        wm = fmaxf(wm, mx);
        rw.bad[hr] |= badt;
        rw.m[hr] = fmaxf(rw.m[hr], mx);
        const float m = rw.m[hr];
        /* the row's candidates of the tile: counted per thread, one shared atomic per quad
         * (the row's four threads) for their places, then written */
        int c = 0;
#pragma unroll
        for (int nc = 0; nc < 8; nc++)
            for (int e = 2 * hr; e < 2 * hr + 2; e++) c += am1 * (S[nc][e] - m) > -1.0f;
        const int t4 = threadIdx.x & 3;
        int incl = c, v = __shfl_up_sync(0xffffffffu, incl, 1, 4);
        if (t4 >= 1) incl += v;
        v = __shfl_up_sync(0xffffffffu, incl, 2, 4);
        if (t4 >= 2) incl += v;
        const int total = __shfl_sync(0xffffffffu, incl, 3, 4);
        int base = 0;
        if (t4 == 0 && total > 0) base = atomicAdd(&s.cnt[rw.r[hr]], total);
        int slot = __shfl_sync(0xffffffffu, base, 0, 4) + incl - c;
        float *list = w.cand + ((size_t)h * g.nq + r0 + rw.r[hr]) * w.cap;
#pragma unroll
        for (int nc = 0; nc < 8; nc++)
            for (int e = 2 * hr; e < 2 * hr + 2; e++)
                if (am1 * (S[nc][e] - m) > -1.0f) {
                    if (slot < w.cap) list[slot] = S[nc][e];
                    slot++;
                }
    }
    float lo = fminf(rw.r[0] < nr ? rw.m[0] : INFINITY, rw.r[1] < nr ? rw.m[1] : INFINITY);
    for (int o = 16; o > 0; o >>= 1) {
        wm = fmaxf(wm, __shfl_xor_sync(0xffffffffu, wm, o));
        lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, o));
    }
    *wmin = lo;
    return wm;
}

/* Entmax pass 2 on the tile: weights [(α−1)(s − m) − τ]_+^e in place, support counted.
 * Returns whether any of the warp's rows has a key of the tile in its support. */
__device__ bool step_out(float (*S)[4], rows2 &rw, float alpha, int j0) {
    const float am1 = alpha - 1.0f, ex = 1.0f / am1;
    int warp_any = 0;
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        float sum = 0.0f;
        int any = 0;
#pragma unroll
        for (int nc = 0; nc < 8; nc++)
            for (int e = 2 * hr; e < 2 * hr + 2; e++) {
                const float dd = am1 * (S[nc][e] - rw.m[hr]) - rw.tau[hr];
                float p = 0.0f;
                if (!rw.bad[hr] && dd > 0.0f)
                    p = alpha == 1.5f ? dd * dd : alpha == 2.0f ? dd : __powf(dd, ex);
                S[nc][e] = p;
                sum += p;
                rw.sup[hr] += p > 0.0f;
                any |= p > 0.0f;
            }
        any |= __shfl_xor_sync(0xffffffffu, any, 1);
        any |= __shfl_xor_sync(0xffffffffu, any, 2);
        rw.l[hr] += sum;
        warp_any |= any;
        if (any && j0 / CU_ATTN_STAT_TK != rw.last64[hr]) {
            rw.stiles[hr]++;
            rw.last64[hr] = j0 / CU_ATTN_STAT_TK;
        }
    }
    return __any_sync(0xffffffffu, warp_any);
}

/* The block's setup: q' into shared memory as bf16, the rows' ranges, and for the output pass
 * each row's m and τ and the block's lowest threshold (a tile whose largest score is below it
 * holds no support of any row). Returns that threshold (the output pass) or +inf. */
template <int D, int MODE, int MW>
__device__ float block_setup(bf_smem<D, MW> &s, const cu_attn_geom &g, const cu_ent_ws &w,
                             rows2 *rw, int h, int r0, int nr) {
    constexpr int BQ = 64 * MW;
    const int tid = threadIdx.x, lane = tid & 31, t4 = lane & 3;
    for (int idx = tid; idx < BQ * D; idx += blockDim.x) {
        const int r = idx / D, x = idx % D;
        const size_t at = ((size_t)(r0 + r) * g.H + h) * D + x;
        const float v = r < nr ? g.q[at] * cu_attn_qfactor(g, r0 + r, h) : 0.0f;
        s.q[r][x] = __float2bfloat16_rn(v);
        if (MODE != CU_TILE_SOFTMAX)
            s.ql[r][x] = __float2bfloat16_rn(v - __bfloat162float(s.q[r][x]));
    }
    for (int r = tid; r < BQ; r += blockDim.x) s.cnt[r] = 0, s.thr[r] = INFINITY;
    if (tid < 5) s.st[tid] = 0;
    if (tid == 0) s.qn_bits = 0, s.mmin = -INFINITY;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const int r = (tid >> 5) * 16 * MW + mw * 16 + (lane >> 2) + 8 * hr;
            rw[mw].r[hr] = r;
            rw[mw].lo[hr] = rw[mw].hi[hr] = 0;
            if (r < nr) cu_attn_visible(g, g.q0 + r0 + r, &rw[mw].lo[hr], &rw[mw].hi[hr]);
            rw[mw].m[hr] = -INFINITY;
            rw[mw].l[hr] = rw[mw].tau[hr] = 0.0f;
            rw[mw].sup[hr] = rw[mw].stiles[hr] = rw[mw].bad[hr] = 0;
            rw[mw].last64[hr] = -1;
        }
    __syncthreads();
    if (MODE == CU_TILE_GATHER && w.knorm) { /* the largest |q'| of the block, for the bounds */
        for (int r = tid; r < BQ; r += blockDim.x) {
            float q2 = 0.0f;
            for (int x = 0; x < D; x++) {
                const float v = __bfloat162float(s.q[r][x]);
                q2 += v * v;
            }
            atomicMax(&s.qn_bits, __float_as_int(sqrtf(q2) * (1.0f + 1e-3f)));
        }
        __syncthreads();
    }
    if constexpr (MODE == CU_TILE_OUT) {
#pragma unroll
        for (int mw = 0; mw < MW; mw++)
#pragma unroll
            for (int hr = 0; hr < 2; hr++) {
                rows2 &q = rw[mw];
                const int r = q.r[hr];
                if (r >= nr) continue;
                q.m[hr] = w.m[(size_t)h * g.nq + r0 + r];
                q.tau[hr] = w.tau[(size_t)h * g.nq + r0 + r];
                q.bad[hr] = !(isfinite(q.m[hr]) && isfinite(q.tau[hr]));
                if (t4 == 0 && !q.bad[hr] && q.hi[hr] > q.lo[hr])
                    s.thr[r] = q.m[hr] + q.tau[hr] / (g.alpha - 1.0f);
            }
        __syncthreads();
        float thr = INFINITY;
        for (int r = 0; r < BQ; r++) thr = fminf(thr, s.thr[r]);
        return thr - 1e-4f * (1.0f + fabsf(thr));
    }
    return INFINITY;
}

/* One row's output and statistics (softmax and the entmax output pass). */
template <int D, int MODE, class SM>
__device__ __forceinline__ void finish_row(SM &s, const cu_attn_geom &g, const rows2 &rw,
                                           const float (*O)[4], int hr, int h, int row) {
    const int t4 = threadIdx.x & 3;
    float inv = rw.l[hr] == 0.0f ? 0.0f : 1.0f / rw.l[hr];
    if (MODE == CU_TILE_OUT) {
        const bool exact = g.alpha == 1.5f || g.alpha == 2.0f;
        inv = rw.hi[hr] == rw.lo[hr] ? 0.0f : rw.bad[hr] ? NAN : exact ? 1.0f : inv;
    }
    float *o = g.out + ((size_t)row * g.H + h) * D + 2 * t4;
    for (int dc = 0; dc < D / 8; dc++)
        *(float2 *)(o + dc * 8) = make_float2(O[dc][2 * hr] * inv, O[dc][2 * hr + 1] * inv);
    if (g.stats && t4 == 0) {
        const int vis = rw.hi[hr] - rw.lo[hr];
        const int vt =
            vis > 0 ? (rw.hi[hr] - 1) / CU_ATTN_STAT_TK - rw.lo[hr] / CU_ATTN_STAT_TK + 1 : 0;
        atomicAdd(&s.st[0], 1ull);
        atomicAdd(&s.st[2], (unsigned long long)vis);
        const bool nanrow = MODE == CU_TILE_OUT && rw.bad[hr] && vis > 0;
        atomicAdd(&s.st[1], nanrow ? 1ull : (unsigned long long)rw.sup[hr]);
        if (MODE == CU_TILE_OUT && !nanrow) {
            atomicAdd(&s.st[3], (unsigned long long)vt);
            atomicAdd(&s.st[4], (unsigned long long)(vt - rw.stiles[hr]));
        }
    }
}

/* The rows' results: outputs (softmax, entmax output pass) or maxima and candidate counts
 * (gather pass), and the statistics. */
template <int D, int MODE, int MW>
__device__ void block_finish(bf_smem<D, MW> &s, const cu_attn_geom &g, const cu_ent_ws &w,
                             rows2 *rw, float (*O)[D / 8][4], int h, int r0, int nr) {
    const int lane = threadIdx.x & 31, t4 = lane & 3;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            rows2 &q = rw[mw];
            q.l[hr] = quad_sum(q.l[hr]);
            q.sup[hr] += __shfl_xor_sync(0xffffffffu, q.sup[hr], 1);
            q.sup[hr] += __shfl_xor_sync(0xffffffffu, q.sup[hr], 2);
        }
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const int r = rw[mw].r[hr];
            if (r >= nr) continue;
            const size_t item = (size_t)h * g.nq + r0 + r;
            if constexpr (MODE == CU_TILE_GATHER) {
                if (t4 == 0)
                    w.m[item] = rw[mw].bad[hr] ? NAN : rw[mw].m[hr], w.cnt[item] = s.cnt[r];
            } else {
                finish_row<D, MODE>(s, g, rw[mw], O[mw], hr, h, r0 + r);
            }
        }
    if (MODE == CU_TILE_GATHER || !g.stats) return;
    __syncthreads();
    if (threadIdx.x == 0)
        for (int k = 0; k < 5; k++) atomicAdd(&((unsigned long long *)&g.stats[h])[k], s.st[k]);
}

/* One key tile of the block: scores, then the mode's step and (not gathering) P·V. */
template <int D, int MODE, int MW>
__device__ void block_tile(bf_smem<D, MW> &s, int stg, const uint32_t (*qf)[D / 16][4],
                           const uint32_t (*ql)[D / 16][4], float (*O)[D / 8][4], rows2 *rw,
                           const cu_attn_geom &g, const cu_ent_ws &w, int h, int r0, int nr,
                           int j0, float slope, float *tmax_out) {
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    float S[MW][8][4];
    bf16_tile_scores<D, MW, MODE != CU_TILE_SOFTMAX>(s, stg, qf, ql, S, g, rw, j0, g.q0 + r0,
                                                     slope);
    if constexpr (MODE == CU_TILE_GATHER) {
        float wm = -INFINITY, wl = INFINITY;
#pragma unroll
        for (int mw = 0; mw < MW; mw++) {
            float wmin;
            wm = fmaxf(wm, step_gather(s, S[mw], rw[mw], g, w, h, r0, nr, &wmin));
            wl = fminf(wl, wmin);
        }
        if (lane == 0) s.wmax[warp] = wm, s.wmin[warp] = wl;
        __syncthreads();
        if (tid == 0) {
            *tmax_out = fmaxf(fmaxf(s.wmax[0], s.wmax[1]), fmaxf(s.wmax[2], s.wmax[3]));
            s.mmin = fminf(fminf(s.wmin[0], s.wmin[1]), fminf(s.wmin[2], s.wmin[3]));
        }
    } else {
        /* the output pass multiplies V only for m-tiles with support in the tile */
        bool pv[MW];
#pragma unroll
        for (int mw = 0; mw < MW; mw++) {
            pv[mw] = true;
            if (MODE == CU_TILE_SOFTMAX) step_softmax<D>(S[mw], O[mw], rw[mw], g.stats != NULL);
            else pv[mw] = step_out(S[mw], rw[mw], g.alpha, j0);
        }
        tile_pv<D, MW>(s, stg, S, O, pv);
    }
}

template <int D, int MODE, int MW>
__global__ void __launch_bounds__(128) tile_bf16(const cu_attn_geom g, const cu_ent_ws w) {
    constexpr int BQ = 64 * MW;
    extern __shared__ __align__(16) unsigned char smraw[];
    bf_smem<D, MW> &s = *reinterpret_cast<bf_smem<D, MW> *>(smraw);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g8 = lane >> 2, t4 = lane & 3;
    const int h = blockIdx.y, kvh = h / g.group;
    const int qb = gridDim.x - 1 - blockIdx.x, r0 = qb * BQ, nr = min(BQ, g.nq - r0);
    const float slope = g.slopes ? g.slopes[h] : 0.0f;
    rows2 rw[MW];
    const float thrmin = block_setup<D, MODE, MW>(s, g, w, rw, h, r0, nr);
    constexpr int NL = MODE == CU_TILE_SOFTMAX ? 1 : MW;
    uint32_t qf[MW][D / 16][4], ql[NL][D / 16][4];
    float O[MW][D / 8][4];
#pragma unroll
    for (int mw = 0; mw < MW; mw++) {
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++) {
            const __nv_bfloat16 *qp = &s.q[warp * 16 * MW + mw * 16 + g8][kc * 16 + 2 * t4];
            qf[mw][kc][0] = lds32(qp), qf[mw][kc][1] = lds32(qp + 8 * (D + 8));
            qf[mw][kc][2] = lds32(qp + 8), qf[mw][kc][3] = lds32(qp + 8 * (D + 8) + 8);
            if (MODE != CU_TILE_SOFTMAX && mw < NL) {
                const __nv_bfloat16 *lp = &s.ql[warp * 16 * MW + mw * 16 + g8][kc * 16 + 2 * t4];
                ql[mw][kc][0] = lds32(lp), ql[mw][kc][1] = lds32(lp + 8 * (D + 8));
                ql[mw][kc][2] = lds32(lp + 8), ql[mw][kc][3] = lds32(lp + 8 * (D + 8) + 8);
            }
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
    float *tmax = w.tmax + ((size_t)h * w.nqb + qb) * w.nkt;
    const bool bound = MODE == CU_TILE_GATHER && w.knorm;
    const float qn = __int_as_float(s.qn_bits);
    /* tile it's index (the gather pass goes from the last to the first), and whether it is
     * scored: the output pass skips tiles below every row's threshold, the gather pass those
     * whose bound is below every row's candidate gap (their maximum is then recorded as that
     * bound) */
    auto tile_at = [&](int it) { return MODE == CU_TILE_GATHER ? tf + n_t - 1 - it : tf + it; };
    auto visit = [&](int it) -> bool {
        if (MODE == CU_TILE_OUT) return tmax[tile_at(it)] >= thrmin;
        if (!bound) return true;
        const float u = cu_attn_tile_bound(g, w, kvh, qn, slope, tile_at(it), g.q0 + r0,
                                           g.q0 + r0 + nr - 1);
        if (!cu_attn_below_gap(g.alpha - 1.0f, u, s.mmin)) return true;
        if (tid == 0) tmax[tile_at(it)] = u;
        return false;
    };
    int it = 0, stg = 0;
    while (it < n_t && !visit(it)) it++;
    if (it < n_t) load_tile<D, MW, MODE != CU_TILE_GATHER>(s, 0, g, kvh, tile_at(it));
    cp_commit();
    while (it < n_t) {
        int nx = it + 1;
        while (nx < n_t && !visit(nx)) nx++;
        if (nx < n_t) load_tile<D, MW, MODE != CU_TILE_GATHER>(s, stg ^ 1, g, kvh, tile_at(nx));
        cp_commit();
        cp_wait1();
        __syncthreads();
        block_tile<D, MODE, MW>(s, stg, qf, ql, O, rw, g, w, h, r0, nr, tile_at(it) * BK, slope,
                                &tmax[tile_at(it)]);
        __syncthreads();
        it = nx, stg ^= 1;
    }
    block_finish<D, MODE, MW>(s, g, w, rw, O, h, r0, nr);
}

/* m-tiles of 16 rows per warp: 2 for softmax at head size 64 (128 rows a block, each K and V
 * fragment used twice: about 10% faster on an H200), else 1 (the registers of head size 128
 * and of the entmax passes' split q' do not allow more). SPARSA_CUDA_ATTN_MW=1|2 overrides it
 * at head size 64 (tuning). */
static int rows_per_warp(const cu_attn_geom *g, int mode) {
    static int env = -1;
    if (env < 0) {
        const char *e = getenv("SPARSA_CUDA_ATTN_MW");
        env = e && (e[0] == '1' || e[0] == '2') && !e[1] ? e[0] - '0' : 0;
    }
    if (g->d != 64) return 1;
    return env ? env : mode == CU_TILE_SOFTMAX ? 2 : 1;
}

int cu_attn_bf16_ok(const cu_attn_geom *g) {
    return g->kv_bf16 && g->d == g->dv && (g->d == 64 || g->d == 128);
}

int cu_attn_bf16_block_q(const cu_attn_geom *g) { return 64 * rows_per_warp(g, CU_TILE_GATHER); }

template <int D, int MODE, int MW>
static cudaError_t launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    const size_t smem = sizeof(bf_smem<D, MW>);
    cudaError_t e = cudaFuncSetAttribute(tile_bf16<D, MODE, MW>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    cu_ent_ws none;
    memset(&none, 0, sizeof none);
    const dim3 grid((unsigned)((g->nq + 64 * MW - 1) / (64 * MW)), (unsigned)g->H);
    tile_bf16<D, MODE, MW><<<grid, 128, smem, st>>>(*g, w ? *w : none);
    return cudaGetLastError();
}

template <int MODE>
static cudaError_t launch_mode(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    if (g->d == 128) return launch<128, MODE, 1>(g, w, st);
    return rows_per_warp(g, MODE) == 2 ? launch<64, MODE, 2>(g, w, st)
                                       : launch<64, MODE, 1>(g, w, st);
}

cudaError_t cu_attn_bf16_launch(const cu_attn_geom *g, const cu_ent_ws *w, int mode,
                                cudaStream_t st) {
    if (!cu_attn_bf16_ok(g)) return cudaErrorNotSupported;
    if (mode == CU_TILE_SOFTMAX) return launch_mode<CU_TILE_SOFTMAX>(g, w, st);
    if (mode == CU_TILE_GATHER) return launch_mode<CU_TILE_GATHER>(g, w, st);
    return launch_mode<CU_TILE_OUT>(g, w, st);
}
