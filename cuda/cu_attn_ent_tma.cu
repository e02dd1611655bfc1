/* cu_attn_ent_tma.cu — the two QK-only passes of the bf16 α-entmax list pipeline on Hopper
 * (head size 64, sm_90a): the work of cu_attn_ent_bf16.cu's passes with the softmax fast path's
 * arrangement (cu_attn_flash_tma.cu; docs/ATTENTION_MATH.md, "The CUDA kernels").
 *
 * A block is NWG consumer warpgroups of 64 query rows and a producer warpgroup whose first
 * thread loads 128-key tiles of K (no V) with TMA into NS stages of 128-byte-swizzled rows,
 * each stage guarded by a "full" mbarrier (the TMA's bytes complete it) and an "empty" one
 * (every consumer warp arrives once it has read the tile). A consumer warpgroup forms S = Q′Kᵀ
 * of a 64×128 tile by 4 wgmma m64n128k16 (q′ and K from shared memory); each warp then holds
 * its 16 rows in mma.sync's accumulator layout and does the mma.sync passes' work on them a
 * 128-key tile at a time (cu_attn_ent_rows.cuh), so the workspace is the same: row maxima,
 * listing thresholds, tile maxima per (16-row stripe, 64-key tile), lists.
 *
 * Both passes form every score in the same order with the same finishing, so pass 2 sees the
 * bits pass 1 saw. Pass 2 first decides from the tile maxima which warps need each tile; the
 * producer loads only tiles some warp needs, and a warpgroup none of whose warps needs a tile
 * releases it without a product.
 */
#include <cuda.h>

#include "cu_attn_ent_rows.cuh"
#include "cu_attn_ent_tma.h"
#include "cu_attn_flash.h"
#include "cu_attn_flash_sm90.cuh"
#include "cu_attn_tma_map.h"

#define ETM_TILES 1024 /* 128-key tiles a block of pass 2 can list (131072 keys) */

/* Shared memory from a 1024-byte aligned base: K stages, q′ (swizzled rows), the rows'
 * sketches, NaN flags and |q′|, the warps' lowest thresholds, pass 2's tile list and needs,
 * counters, each stage's tile and needs, the warps' lowest running maxima, the rows' bf16 |q′|,
 * the barriers. */
template <int NWG, int NS> struct et_shape {
    static constexpr int D = 64, BN = 128, BM = 64 * NWG, TB = BN * D * 2, NW = 4 * NWG;
    static constexpr int NT = 128 * NWG + 128; /* consumers, then the producer warpgroup */
    static constexpr int K0 = 0, Q0 = NS * TB, TOP = Q0 + BM * D * 2;
    static constexpr int BAD = TOP + BM * (4 * SKETCH + 1) * 4, QN = BAD + BM * 4;
    static constexpr int WTHR = QN + BM * 4, TL = WTHR + NW * 4, NEED = TL + ETM_TILES * 4;
    static constexpr int MISC = NEED + ETM_TILES * 2, RING = MISC + 16, RNEED = RING + NS * 4;
    static constexpr int WMIN = RNEED + NS * 4, QB = WMIN + NW * 4;
    static constexpr int BAR = (QB + BM * 4 + 7) / 8 * 8;
    static constexpr int BYTES = BAR + 2 * NS * 8;
};

/* Pointers into the block's shared memory. */
struct et_smem {
    unsigned char *k, *q;
    float (*top)[4 * SKETCH + 1];
    int *bad;
    float *qn, *wthr;
    int *tl;               /* pass 2: the tiles to visit */
    unsigned short *need;  /* pass 2: which warps need each of them */
    int *misc;             /* [0] tiles listed, [1] bits of the largest |k| */
    int *ring;             /* the tile in each stage (−1: no more tiles) */
    unsigned *rneed;       /* which warps need it (pass 2) */
    float *wmin;           /* pass 1 with tile bounds: each warp's lowest running row maximum */
    float *qb;             /* pass 1: each row's bf16 |q′| (with a margin), for the bounds */
    uint64_t *full, *empty;
};

template <int NWG, int NS> static __device__ __forceinline__ et_smem et_at(unsigned char *sm) {
    typedef et_shape<NWG, NS> F;
    et_smem s;
    s.k = sm + F::K0, s.q = sm + F::Q0;
    s.top = reinterpret_cast<float(*)[4 * SKETCH + 1]>(sm + F::TOP);
    s.bad = reinterpret_cast<int *>(sm + F::BAD);
    s.qn = reinterpret_cast<float *>(sm + F::QN), s.wthr = reinterpret_cast<float *>(sm + F::WTHR);
    s.tl = reinterpret_cast<int *>(sm + F::TL);
    s.need = reinterpret_cast<unsigned short *>(sm + F::NEED);
    s.misc = reinterpret_cast<int *>(sm + F::MISC), s.ring = reinterpret_cast<int *>(sm + F::RING);
    s.rneed = reinterpret_cast<unsigned *>(sm + F::RNEED);
    s.wmin = reinterpret_cast<float *>(sm + F::WMIN), s.qb = reinterpret_cast<float *>(sm + F::QB);
    s.full = reinterpret_cast<uint64_t *>(sm + F::BAR), s.empty = s.full + NS;
    return s;
}

/* The block's rows, head and the 128-key tiles [tf, tf + n_t) its rows see. */
struct et_block {
    int h, kvh, r0, nr, tf, n_t, blo, bhi;
};

template <int BM>
static __device__ __forceinline__ et_block et_rows(const cu_attn_geom &g, int nqb) {
    et_block b;
    b.h = (int)(blockIdx.x % (unsigned)g.H), b.kvh = b.h / g.group;
    b.r0 = (nqb - 1 - (int)(blockIdx.x / (unsigned)g.H)) * BM;
    b.nr = min(BM, g.nq - b.r0);
    int tmp;
    cu_attn_visible(g, g.q0 + b.r0, &b.blo, &tmp);
    cu_attn_visible(g, g.q0 + b.r0 + b.nr - 1, &tmp, &b.bhi);
    b.tf = b.blo / 128;
    b.n_t = b.bhi > b.blo ? (b.bhi - 1) / 128 - b.tf + 1 : 0;
    return b;
}

/* Keys [lo, hi) some row of warpgroup wg sees (empty past the block's rows). */
static __device__ __forceinline__ void et_wg_range(const cu_attn_geom &g, const et_block &b,
                                                   int wg, int *lo, int *hi) {
    *lo = *hi = 0;
    if (wg * 64 >= b.nr) return;
    int tmp;
    cu_attn_visible(g, g.q0 + b.r0 + wg * 64, lo, &tmp);
    cu_attn_visible(g, g.q0 + b.r0 + min(wg * 64 + 63, b.nr - 1), &tmp, hi);
}

/* q′ of the warpgroup's 64 rows (0 past the block's nr) into its swizzled rows at sq, rounded
 * to bf16 as cu_attn_ent_bf16.cu rounds them; pass 1: each row's error factor (qn,
 * bf16_error_factor) and |q′| of the bf16 q′ with a margin (qb, for the tile bounds) too. */
template <int MODE>
static __device__ void et_load_q(unsigned char *sq, float *qn, float *qb, const cu_attn_geom &g,
                                 const et_block &b, int wg) {
    for (int c = threadIdx.x & 127; c < 64 * 8; c += 128) {
        const int r = c / 8, x = (c % 8) * 8, br = wg * 64 + r;
        float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        if (br < b.nr) {
            const float *q = g.q + ((size_t)(b.r0 + br) * g.H + b.h) * 64 + x;
            const float f = cu_attn_qfactor(g, b.r0 + br, b.h);
#pragma unroll
            for (int i = 0; i < 8; i++) v[i] = q[i] * f;
        }
        *(uint4 *)(sq + fa_sw128(r, c % 8)) =
            make_uint4(mma_pack_bf16(v[0], v[1]), mma_pack_bf16(v[2], v[3]),
                       mma_pack_bf16(v[4], v[5]), mma_pack_bf16(v[6], v[7]));
    }
    if (MODE != CU_LIST_MAX) return;
    const int r = threadIdx.x & 127, br = wg * 64 + r;
    if (r < 64) { /* as cu_attn_ent_bf16.cu's ent_setup */
        float q2 = 0.0f, b2 = 0.0f, e2 = 0.0f;
        if (br < b.nr) {
            const float4 *q4 = (const float4 *)(g.q + ((size_t)(b.r0 + br) * g.H + b.h) * 64);
            const float f = cu_attn_qfactor(g, b.r0 + br, b.h);
            float4 qv[16]; /* all loads in flight at once */
#pragma unroll
            for (int i = 0; i < 16; i++) qv[i] = q4[i];
#pragma unroll
            for (int i = 0; i < 16; i++) {
                const float v[4] = {qv[i].x * f, qv[i].y * f, qv[i].z * f, qv[i].w * f};
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const float r16 = __bfloat162float(__float2bfloat16_rn(v[e]));
                    q2 += v[e] * v[e], b2 += r16 * r16, e2 += (v[e] - r16) * (v[e] - r16);
                }
            }
        }
        qn[br] = bf16_error_factor(e2, q2, 64);
        qb[br] = sqrtf(b2) * (1.0f + 1e-3f);
    }
}

/* Pass 2, before the loop: which warps need each tile (a warp does when its stripe's maximum
 * in one of the tile's 64-key halves reaches the warp's lowest threshold and its warpgroup sees
 * the tile), then the list of tiles some warp needs (s.tl, s.need, count in s.misc[0]). Ends
 * with a __syncthreads. */
template <int NWG>
static __device__ void et_decide(const et_smem &s, const cu_attn_geom &g, const cu_ent_ws &w,
                                 const et_block &b) {
    const float *tmax = w.tmax + (size_t)b.h * w.nqb * w.nkt;
    for (int i = threadIdx.x; i < b.n_t; i += blockDim.x) {
        const int t = b.tf + i, j0 = t * 128;
        float m0[4 * NWG], m1[4 * NWG]; /* every load issued before any is used */
#pragma unroll
        for (int wp = 0; wp < 4 * NWG; wp++) {
            const float *row = tmax + (size_t)(b.r0 / 16 + wp) * w.nkt;
            const bool in = b.r0 / 16 + wp < w.nqb;
            m0[wp] = in ? row[2 * t] : -INFINITY;
            m1[wp] = in && 2 * t + 1 < w.nkt ? row[2 * t + 1] : -INFINITY;
        }
        unsigned need = 0;
#pragma unroll
        for (int wg = 0; wg < NWG; wg++) {
            int lo, hi;
            et_wg_range(g, b, wg, &lo, &hi);
            if (j0 >= hi || j0 + 128 <= lo) continue;
#pragma unroll
            for (int wp = 4 * wg; wp < 4 * wg + 4; wp++)
                if (m0[wp] >= s.wthr[wp] || m1[wp] >= s.wthr[wp]) need |= 1u << wp;
        }
        s.need[i] = (unsigned short)need;
    }
    __syncthreads();
    if (threadIdx.x < 32) { /* compaction in place: a lane writes at or before what it read */
        const int lane = threadIdx.x;
        int base = 0;
        for (int i0 = 0; i0 < b.n_t; i0 += 32) {
            const int i = i0 + lane;
            const unsigned m = i < b.n_t ? s.need[i] : 0u;
            const unsigned vote = __ballot_sync(0xffffffffu, m != 0);
            if (m) {
                const int at = base + __popc(vote & ((1u << lane) - 1u));
                s.tl[at] = b.tf + i, s.need[at] = (unsigned short)m;
            }
            base += __popc(vote);
        }
        if (lane == 0) s.misc[0] = base;
    }
    __syncthreads();
}

/* Pass 1 with tile bounds: 1 if no key of tile t can be a candidate of a block row (the
 * bounds of both 64-key halves below the gap from the block's lowest running maximum, read as
 * the consumers leave it: a stale value is lower, so only skips less); the bounds then stand as
 * the stripes' tile maxima, as in cu_attn_ent_bf16.cu. */
static __device__ bool et_skip(const et_smem &s, const cu_attn_geom &g, const cu_ent_ws &w,
                               const et_block &b, int t, int nw, float qn, float slope) {
    float mmin = INFINITY;
    for (int i = 0; i < nw; i++) mmin = fminf(mmin, ((volatile float *)s.wmin)[i]);
    const float am1 = g.alpha - 1.0f;
    const int i0 = g.q0 + b.r0, i1 = g.q0 + b.r0 + b.nr - 1, two = 2 * t + 1 < w.nkt;
    const float u0 = cu_attn_tile_bound(g, w, b.kvh, qn, slope, 2 * t, i0, i1);
    const float u1 = two ? cu_attn_tile_bound(g, w, b.kvh, qn, slope, 2 * t + 1, i0, i1) : u0;
    if (!cu_attn_below_gap(am1, u0, mmin) || !cu_attn_below_gap(am1, u1, mmin)) return false;
    for (int i = 0; i < nw && b.r0 / 16 + i < w.nqb; i++) {
        float *row = w.tmax + ((size_t)b.h * w.nqb + b.r0 / 16 + i) * w.nkt;
        row[2 * t] = u0;
        if (two) row[2 * t + 1] = u1;
    }
    return true;
}

/* The producer: the k-th tile it loads (pass 2: of the listed ones; pass 1: every tile of the
 * block — with bounds from the nearest, the last, so that the running maxima grow early — less
 * those the bounds skip) into stage k % NS once every consumer warp has released the tile that
 * was there (round k / NS − 1), its index and needs into the stage's ring entry; after the
 * last, a stage whose entry says so, completed by a plain arrival. */
template <int NWG, int NS, int MODE>
static __device__ void et_produce(const et_smem &s, const CUtensorMap *tk, const cu_attn_geom &g,
                                  const cu_ent_ws &w, const et_block &b, bool bound,
                                  float slope) {
    typedef et_shape<NWG, NS> F;
    const int n = MODE == CU_LIST_PICK ? s.misc[0] : b.n_t;
    float qn = 0.0f; /* ≥ every bf16 |q′| of the block */
    for (int r = 0; r < F::BM && bound; r++) qn = fmaxf(qn, s.qb[r]);
    int k = 0;
    for (int i = 0; i < n; i++) {
        const int t = MODE == CU_LIST_PICK ? s.tl[i] : bound ? b.tf + b.n_t - 1 - i : b.tf + i;
        if (bound && et_skip(s, g, w, b, t, F::NW, qn, slope)) continue;
        const int st = k % NS, r = k / NS;
        if (r > 0) fa_bar_wait(&s.empty[st], (r - 1) & 1);
        s.ring[st] = t, s.rneed[st] = MODE == CU_LIST_PICK ? s.need[i] : 0xffffu;
        fa_bar_expect(&s.full[st], F::TB);
        fa_tma_load3(s.k + st * F::TB, tk, 0, b.kvh, t * F::BN, &s.full[st]);
        k++;
    }
    const int st = k % NS, r = k / NS;
    if (r > 0) fa_bar_wait(&s.empty[st], (r - 1) & 1);
    s.ring[st] = -1;
    fa_bar_arrive(&s.full[st]);
}

/* S (the warpgroup's 64 rows × 128 keys) = Q′Kᵀ over the stage at kst, waited for. */
static __device__ __forceinline__ void et_scores(const unsigned char *kst, const unsigned char *sq,
                                                 float (*S)[4]) {
    mma_wg_hold<64>(&S[0][0]);
    mma_wg_fence();
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
        fa_wg_64x128x16_ss(&S[0][0], fa_desc_sw128(sq + kc * 32), fa_desc_sw128(kst + kc * 32),
                           kc);
    mma_wg_commit();
    mma_wg_wait<0>();
    mma_wg_hold<64>(&S[0][0]);
}

/* A consumer warp's arrival on a barrier (one lane for the warp). */
static __device__ __forceinline__ void et_release(uint64_t *bar) {
    if ((threadIdx.x & 31) == 0) fa_bar_arrive(bar);
}

/* Pass 1's tile maxima of the warp's stripe: the largest of the threads' m over the warp (one
 * integer maximum over the warp, m being no NaN), stored for both 64-key halves of tile t (pass
 * 2 decides per 128-key tile, so the larger of the halves' maxima serves both); with bounds,
 * the warp's lowest running row maximum lo (the threads' lowest) into s.wmin. */
static __device__ __forceinline__ void et_put_tmax(const et_smem &s, const cu_ent_ws &w,
                                                   const et_block &b, int t, float m, bool bound,
                                                   float lo) {
    m = cu_warp_max(m);
    if (bound) lo = cu_warp_min(lo);
    const int warp = threadIdx.x >> 5, stripe = b.r0 / 16 + warp;
    if ((threadIdx.x & 31) || stripe >= w.nqb) return;
    float *row = w.tmax + ((size_t)b.h * w.nqb + stripe) * w.nkt;
    row[2 * t] = m;
    if (2 * t + 1 < w.nkt) row[2 * t + 1] = m;
    if (bound) ((volatile float *)s.wmin)[warp] = lo;
}

/* The warp's work on its 16 rows of tile t (keys j0 = 128·t …) in the mode's way, after the
 * finishing and masking of both 64-key halves: pass 1 the sketches and the stripe's tile
 * maxima, pass 2 the lists (cu_attn_ent_rows.cuh). */
template <int MODE>
static __device__ __forceinline__ void et_tile(const et_smem &s, float (*S)[4], erow *rw,
                                               const cu_attn_geom &g, const cu_ent_ws &w,
                                               const et_block &b, int t, float slope,
                                               bool bound, int2 in) {
    const int j0 = t * 128;
    tile_finish_mask(S, g, rw, j0, g.q0 + b.r0, slope, in);
    if (MODE == CU_LIST_PICK) {
        step_pick_tile(S, rw, g, w, b.h, b.r0, j0);
        return;
    }
    float lo = INFINITY;
    const float m = step_max_tile(S, rw, b.nr, bound, &lo);
    et_put_tmax(s, w, b, t, m, bound, lo);
}

/* A consumer warp's loop over the tiles the producer loads; rw: its two rows. */
template <int NWG, int NS, int MODE>
static __device__ void et_consume(const et_smem &s, const cu_attn_geom &g, const cu_ent_ws &w,
                                  const et_block &b, bool bound, erow *rw) {
    typedef et_shape<NWG, NS> F;
    const int warp = threadIdx.x >> 5, wg = warp >> 2;
    const unsigned char *sq = s.q + wg * 64 * 128;
    const float slope = g.slopes ? g.slopes[b.h] : 0.0f;
    int wlo, whi;
    et_wg_range(g, b, wg, &wlo, &whi);
    const int2 in = tile_inside(rw);
    for (int k = 0;; k++) {
        const int st = k % NS;
        fa_bar_wait(&s.full[st], (k / NS) & 1);
        const int t = s.ring[st], j0 = t * 128;
        const unsigned need = s.rneed[st];
        if (t < 0) break;
        const bool sees = j0 < whi && j0 + 128 > wlo && ((need >> (4 * wg)) & 15u);
        if (!sees) {
            et_release(&s.empty[st]);
            if (MODE == CU_LIST_MAX) et_put_tmax(s, w, b, t, -INFINITY, false, INFINITY);
            continue;
        }
        float S[16][4];
        et_scores(s.k + st * F::TB, sq, S);
        et_release(&s.empty[st]);
        if (MODE == CU_LIST_PICK && !((need >> warp) & 1u)) continue;
        et_tile<MODE>(s, S, rw, g, w, b, t, slope, bound, in);
    }
}

/* The consumers' end: pass 1 the rows' maxima and thresholds (over the consumer threads, with
 * a named barrier: the producer has left), pass 2 the list lengths. */
template <int NWG, int MODE>
static __device__ void et_finish(const et_smem &s, const cu_attn_geom &g, const cu_ent_ws &w,
                                 const et_block &b, const erow *rw) {
    if (MODE == CU_LIST_PICK) {
        for (int hr = 0; hr < 2; hr++)
            if ((threadIdx.x & 3) == 0 && rw[hr].r < b.nr)
                w.cnt[(size_t)b.h * g.nq + b.r0 + rw[hr].r] = rw[hr].n;
        return;
    }
    sketch_store<1>(reinterpret_cast<const erow(*)[2]>(rw), s.top, s.bad);
    const int tf = b.blo / EBK, n64 = b.bhi > b.blo ? (b.bhi - 1) / EBK - tf + 1 : 0;
    float kn = 0.0f; /* the largest |k| over the block's 64-key tiles (NaN norms left out) */
    for (int t = tf + (int)threadIdx.x; t < tf + n64; t += 128 * NWG)
        kn = fmaxf(kn, w.knorm[(size_t)b.kvh * w.nkt + t]);
    atomicMax(&s.misc[1], __float_as_int(kn));
    fa_named_sync(1, 128 * NWG);
    rows_finish(s.top, s.bad, s.qn, __int_as_float(s.misc[1]), g, w, b.h, b.r0, b.nr,
                threadIdx.x, 128 * NWG);
}

template <int NWG, int NS, int MODE>
__global__ void __launch_bounds__(et_shape<NWG, NS>::NT, 1)
    et_kernel(const __grid_constant__ CUtensorMap tk, const cu_attn_geom g, const cu_ent_ws w,
              int nqb) {
    typedef et_shape<NWG, NS> F;
    extern __shared__ __align__(128) unsigned char et_raw[];
    unsigned char *sm = et_raw + ((1024 - (fa_saddr(et_raw) & 1023)) & 1023);
    const et_smem s = et_at<NWG, NS>(sm);
    const et_block b = et_rows<F::BM>(g, nqb);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    if (tid == 128 * NWG) {
        for (int i = 0; i < NS; i++) fa_bar_init(&s.full[i], 1), fa_bar_init(&s.empty[i], F::NW);
        fa_bar_init_fence();
        s.misc[0] = b.n_t, s.misc[1] = 0;
    }
    erow rw[2];
    if (warp < F::NW) {
        et_load_q<MODE>(s.q + (warp >> 2) * 64 * 128, s.qn, s.qb, g, b, warp >> 2);
        float wthr = INFINITY;
        for (int hr = 0; hr < 2; hr++) {
            erow_init(rw[hr], warp * 16 + (lane >> 2) + 8 * hr, g, b.r0, b.nr,
                      MODE == CU_LIST_PICK ? w.tau + (size_t)b.h * g.nq : NULL);
            wthr = fminf(wthr, rw[hr].thr);
        }
        for (int o = 16; o > 0; o >>= 1)
            wthr = fminf(wthr, __shfl_xor_sync(0xffffffffu, wthr, o));
        if (lane == 0)
            s.wthr[warp] = wthr, s.wmin[warp] = warp * 16 < b.nr ? -INFINITY : INFINITY;
    }
    mma_fence_proxy_async(); /* q′ written by the generic proxy, read by wgmma */
    __syncthreads();
    if (MODE == CU_LIST_PICK) et_decide<NWG>(s, g, w, b);
    const float slope = g.slopes ? g.slopes[b.h] : 0.0f;
    /* tile bounds pay in prefill with ALiBi (as in cu_attn_ent_bf16.cu) */
    const bool bound = MODE == CU_LIST_MAX && slope != 0.0f;
    if (warp >= F::NW) { /* the producer warpgroup gives its registers to the consumers */
        fa_setmaxnreg_dec<24>();
        if (tid == 128 * NWG) et_produce<NWG, NS, MODE>(s, &tk, g, w, b, bound, slope);
        return;
    }
    fa_setmaxnreg_inc<NWG == 3 ? 160 : 240>();
    et_consume<NWG, NS, MODE>(s, g, w, b, bound, rw);
    et_finish<NWG, MODE>(s, g, w, b, rw);
}

/* ---- host side ------------------------------------------------------------------------- */

static unsigned long long et_launches;

template <int NWG, int NS, int MODE>
static cudaError_t et_launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    typedef et_shape<NWG, NS> F;
    const size_t smem = F::BYTES + 1024; /* + the alignment */
    static unsigned ready; /* devices whose attribute is set for this kernel */
    cudaError_t e = cu_attn_allow_smem((const void *)et_kernel<NWG, NS, MODE>, smem, &ready);
    if (e != cudaSuccess) return e;
    CUtensorMap tk;
    if (cu_attn_tma_kv_map(&tk, g->k, g) != cudaSuccess) return cudaErrorNotSupported;
    const int nqb = (g->nq + F::BM - 1) / F::BM;
    if (MODE == CU_LIST_MAX) __atomic_fetch_add(&et_launches, 1ull, __ATOMIC_RELAXED);
    et_kernel<NWG, NS, MODE><<<(unsigned)nqb * (unsigned)g->H, F::NT, smem, st>>>(tk, *g, *w, nqb);
    return cudaGetLastError();
}

/* The variants (consumer warpgroups, stages), measured on an H200 (12 heads, d 64, causal,
 * random q/k/v, entmax-1.5 at 16k keys, passes 1 + 2): b (3, 4; the default) 0.78 + 0.71 ms,
 * a (3, 2) the same within 1%, c (2, 4) slower (b: 0.75 + 0.69 since, with shorter lists).
 * The row work per 128-key tile (instead of per 64-key half, with the sign-shift masks of pass
 * 2) took them from 0.84 + 0.93 ms: the passes are bound by the ALU pipe, not by the products
 * (without the row work pass 1 takes 0.43 ms, without the products 0.77). Measured and
 * dropped: 4 consumer warpgroups at 96 registers (no faster), the next tile's product in
 * flight while the warps work on a tile — in 64-key halves with 3 warpgroups (0.95 + 1.01 ms)
 * or whole tiles with 2 (1.02 + 0.87) — and descriptors made once per kernel (1% faster). */
template <int MODE>
static cudaError_t et_pick(const cu_attn_geom *g, const cu_ent_ws *w, char variant,
                           cudaStream_t st) {
    switch (variant) {
    case 'a': return et_launch<3, 2, MODE>(g, w, st);
    case 'b': return et_launch<3, 4, MODE>(g, w, st);
    case 'c': return et_launch<2, 4, MODE>(g, w, st);
    default: return cudaErrorNotSupported;
    }
}

cudaError_t cu_attn_ent_tma_launch(const cu_attn_geom *g, const cu_ent_ws *w, int pass,
                                   char variant, cudaStream_t st) {
    if (g->d != 64 || g->dv != 64 || !g->kv_bf16 || g->nq < 64 || g->nk > 128 * ETM_TILES ||
        w->bq != 16 || w->bk != EBK || !w->knorm || !cu_attn_flash_wgmma_available() ||
        !cu_attn_tma_available())
        return cudaErrorNotSupported;
    return pass == CU_LIST_MAX ? et_pick<CU_LIST_MAX>(g, w, variant, st)
                               : et_pick<CU_LIST_PICK>(g, w, variant, st);
}

unsigned long long cu_attn_ent_tma_launches(void) {
    return __atomic_load_n(&et_launches, __ATOMIC_RELAXED);
}
