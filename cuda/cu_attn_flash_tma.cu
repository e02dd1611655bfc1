/* cu_attn_flash_tma.cu — the bf16 softmax fast path on Hopper with a load warpgroup,
 * FlashAttention-3's warp specialisation (docs/ATTENTION_MATH.md, "The CUDA kernels"), head
 * size 64, sm_90a; the fast path's default there.
 *
 * A block is NWG warpgroups of 64 query rows each (the consumers) and one more warpgroup, the
 * producer, whose first thread loads the 128-key tiles of K and V with TMA (tensor maps made on
 * the host through the driver's cuTensorMapEncodeTiled, found with cudaGetDriverEntryPoint so
 * that nothing links libcuda) into NS stages of 128-byte-swizzled rows
 * (cu_attn_flash_sm90.cuh). The producer gives its registers up (setmaxnreg) for the consumers.
 * Each stage has four mbarriers: K full and V full (the TMA's bytes complete them), K empty and
 * V empty (every consumer warp arrives once it has read the tile). Consumers never wait for
 * each other, only for their data: no block-wide barrier in the loop.
 *
 * A consumer warpgroup works as the wgmma kernel's variant u (cu_attn_flash_wgmma.cu): S = Q′Kᵀ
 * by 4 wgmma m64n128k16 with q′ and K from shared memory, the masks, the base-2 online
 * softmax and the outputs of cu_attn_flash.cuh, O += P·V by 8 wgmma m64n64k16 with the weights
 * from registers, tile t−1's P·V running while tile t's weights are computed. A warpgroup whose
 * rows end before a tile still waits for the tile and releases it, so that every barrier
 * completes its phases in order.
 */
#include <cuda.h>

#include "cu_attn_flash.cuh"
#include "cu_attn_flash.h"
#include "cu_attn_flash_sm90.cuh"
#include "cu_attn_tma_map.h"

/* Shared memory from a 1024-byte aligned base: K stages, V stages, q′ (swizzled rows), the
 * barriers. */
template <int NWG, int NS> struct ft_shape {
    static constexpr int D = 64, BN = 128, BM = 64 * NWG, TB = BN * D * 2;
    static constexpr int NT = 128 * NWG + 128; /* consumers, then the producer warpgroup */
    static constexpr int K0 = 0, V0 = NS * TB, Q0 = 2 * NS * TB, BAR = Q0 + BM * D * 2;
    static constexpr int BYTES = BAR + 4 * NS * 8;
};

struct ft_bars {
    uint64_t *kfull, *vfull, *kempty, *vempty; /* [NS] each */
};

template <int NWG, int NS> static __device__ __forceinline__ ft_bars ft_bars_at(unsigned char *sm) {
    uint64_t *b = reinterpret_cast<uint64_t *>(sm + ft_shape<NWG, NS>::BAR);
    return ft_bars{b, b + NS, b + 2 * NS, b + 3 * NS};
}

/* The producer: tile t into stage t % NS once every consumer warp has released the tile that
 * was there (round t / NS − 1). */
template <int NWG, int NS>
static __device__ void ft_produce(unsigned char *sm, const ft_bars &br, const CUtensorMap *tk,
                                  const CUtensorMap *tv, int kvh, int n_t) {
    typedef ft_shape<NWG, NS> F;
    for (int t = 0; t < n_t; t++) {
        const int st = t % NS, r = t / NS;
        if (r > 0) fa_bar_wait(&br.kempty[st], (r - 1) & 1);
        fa_bar_expect(&br.kfull[st], F::TB);
        fa_tma_load3(sm + F::K0 + st * F::TB, tk, 0, kvh, t * F::BN, &br.kfull[st]);
        if (r > 0) fa_bar_wait(&br.vempty[st], (r - 1) & 1);
        fa_bar_expect(&br.vfull[st], F::TB);
        fa_tma_load3(sm + F::V0 + st * F::TB, tv, 0, kvh, t * F::BN, &br.vfull[st]);
    }
}

/* q′ of the warpgroup's 64 rows (0 past the block's nr) into its swizzled rows at sq. */
static __device__ __forceinline__ void ft_load_q(unsigned char *sq, const cu_attn_geom &g, int h,
                                                 int r0, int nr, int wg) {
    for (int c = threadIdx.x & 127; c < 64 * 8; c += 128) {
        const int r = c / 8, x = (c % 8) * 8, br = wg * 64 + r; /* br: row in the block */
        float4 v0 = make_float4(0.0f, 0.0f, 0.0f, 0.0f), v1 = v0;
        if (br < nr) {
            const float *q = g.q + ((size_t)(r0 + br) * g.H + h) * 64 + x;
            v0 = *(const float4 *)q, v1 = *(const float4 *)(q + 4);
            const float f = cu_attn_qfactor(g, r0 + br, h);
            v0.x *= f, v0.y *= f, v0.z *= f, v0.w *= f, v1.x *= f, v1.y *= f, v1.z *= f, v1.w *= f;
        }
        *(uint4 *)(sq + fa_sw128(r, c % 8)) =
            make_uint4(mma_pack_bf16(v0.x, v0.y), mma_pack_bf16(v0.z, v0.w),
                       mma_pack_bf16(v1.x, v1.y), mma_pack_bf16(v1.z, v1.w));
    }
}

/* Pins the weights' A fragments for a following wgmma fence. */
static __device__ __forceinline__ void ft_hold_a(uint32_t (*a)[4]) {
#pragma unroll
    for (int kk = 0; kk < 8; kk++)
#pragma unroll
        for (int i = 0; i < 4; i++) asm volatile("" : "+r"(a[kk][i])::"memory");
}

/* Issues and commits O += P·V over the V tile at vst (after a fence that follows the pins of
 * a and O). */
static __device__ __forceinline__ void ft_issue_pv(const unsigned char *vst, const uint32_t (*a)[4],
                                                   float (*O)[4]) {
#pragma unroll
    for (int kk = 0; kk < 8; kk++) /* N-major B: keys 16kk … 16kk+15, every d chunk */
        mma_wg_64x64x16<1>(&O[0][0], a[kk], fa_desc_sw128(vst + kk * 16 * 128));
    mma_wg_commit();
}

/* Issues and commits S = Q′Kᵀ over the K tile at kst (after a fence that follows S's pin). */
static __device__ __forceinline__ void ft_issue_s(const unsigned char *kst,
                                                  const unsigned char *sq, float (*S)[4]) {
#pragma unroll
    for (int kc = 0; kc < 4; kc++)
        fa_wg_64x128x16_ss(&S[0][0], fa_desc_sw128(sq + kc * 32), fa_desc_sw128(kst + kc * 32),
                           kc);
    mma_wg_commit();
}

/* The weights of the tile, rounded to bf16, as P·V's A operands (16 keys each). */
static __device__ __forceinline__ void ft_pack(const float (*S)[4], uint32_t (*a)[4]) {
#pragma unroll
    for (int kk = 0; kk < 8; kk++) {
        a[kk][0] = mma_pack_bf16(S[2 * kk][0], S[2 * kk][1]);
        a[kk][1] = mma_pack_bf16(S[2 * kk][2], S[2 * kk][3]);
        a[kk][2] = mma_pack_bf16(S[2 * kk + 1][0], S[2 * kk + 1][1]);
        a[kk][3] = mma_pack_bf16(S[2 * kk + 1][2], S[2 * kk + 1][3]);
    }
}

/* A consumer warp's arrival on a barrier (one lane for the warp). */
static __device__ __forceinline__ void ft_release(uint64_t *bar) {
    if ((threadIdx.x & 31) == 0) fa_bar_arrive(bar);
}

/* The block's rows and their key tiles. */
struct ft_block {
    int h, kvh, r0, nr, n_t;
};

template <int NWG>
static __device__ __forceinline__ ft_block ft_rows(const cu_attn_geom &g, int nqb) {
    ft_block b;
    b.h = (int)(blockIdx.x % (unsigned)g.H), b.kvh = b.h / g.group;
    b.r0 = (nqb - 1 - (int)(blockIdx.x / (unsigned)g.H)) * 64 * NWG;
    b.nr = min(64 * NWG, g.nq - b.r0);
    const int khi = g.causal ? min(g.nk, g.q0 + b.r0 + b.nr) : g.nk;
    b.n_t = (khi + 127) / 128;
    return b;
}

/* What a consumer warp carries from tile to tile. */
struct ft_state {
    uint32_t a[8][4];     /* the weights of the pending tile, P·V's A operands */
    float O[1][8][4], m[1][2], l[1][2];
    float al[1][2];       /* ORDER 2: the pending tile's rescale factors of O */
    int pend;             /* the tile whose P·V is still to be issued, or −1 */
    bool moved;           /* ORDER 2: al is still to be applied */
};

/* Tile t for a warpgroup whose rows see it. ORDER 0: S = Q′Kᵀ waited for, then tile t−1's
 * P·V issued; ORDER 2: the same, with the output's rescale by tile t−1's factors done while
 * S's product runs rather than after tile t−1's softmax; ORDER 1 (FlashAttention-3's): S and
 * P·V issued back to back, only S waited for; RING: the issue is the warpgroup's turn in a
 * token ring over named barriers 1 … NWG, so that the warpgroups' products reach the tensor
 * cores in turn while the others do their softmax. Between a product's issue and its wait the
 * code has no branch (with one, ptxas serialises the products: 5–30% slower), hence the two
 * paths. */
template <int NWG, int NS, int ORDER, bool RING>
static __device__ __forceinline__ void ft_tile(unsigned char *sm, const ft_bars &br,
                                               const cu_attn_geom &g, ft_state &w, int t,
                                               int wp0, const unsigned char *sq) {
    typedef ft_shape<NWG, NS> F;
    const int st = t % NS, j0 = t * 128, wg = (int)(threadIdx.x >> 7);
    const int pst = (t + NS - 1) % NS, ppar = ((t + NS - 1) / NS + 1) & 1; /* tile t − 1's */
    const unsigned char *kst = sm + F::K0 + st * F::TB, *vpst = sm + F::V0 + pst * F::TB;
    const bool mask = j0 + 128 > g.nk || (g.causal && j0 + 127 > wp0);
    float S[1][16][4], al[1][2];
    bool moved;
    if (w.pend >= 0) {
        if (ORDER == 1) fa_bar_wait(&br.vfull[pst], ppar);
        if (RING) fa_named_sync(1 + wg, 256);
        mma_wg_hold<64>(&S[0][0][0]);
        mma_wg_hold<32>(&w.O[0][0][0]);
        ft_hold_a(w.a);
        mma_wg_fence();
        ft_issue_s(kst, sq, S[0]);
        if (ORDER == 1) ft_issue_pv(vpst, w.a, w.O[0]);
        if (ORDER == 2) fl_rescale<64, 1>(w.O, w.al); /* factors of 1 where no maximum moved */
        if (RING) fa_named_arrive(1 + (wg + 1) % NWG, 256);
        if (ORDER == 1) mma_wg_wait<1>();
        else mma_wg_wait<0>();
        mma_wg_hold<64>(&S[0][0][0]);
        ft_release(&br.kempty[st]);
        if (mask) fl_mask<1, 128>(S, g, wp0, j0);
        if (ORDER != 1) {
            fa_bar_wait(&br.vfull[pst], ppar);
            ft_hold_a(w.a);
            mma_wg_hold<32>(&w.O[0][0][0]);
            mma_wg_fence();
            ft_issue_pv(vpst, w.a, w.O[0]); /* runs while tile t's weights are made */
        }
        moved = fl_weights<1, 128>(S, w.m, w.l, al);
        mma_wg_wait<0>();
        mma_wg_hold<32>(&w.O[0][0][0]);
        ft_release(&br.vempty[pst]);
    } else {
        if (RING) fa_named_sync(1 + wg, 256);
        mma_wg_hold<64>(&S[0][0][0]);
        mma_wg_fence();
        ft_issue_s(kst, sq, S[0]);
        if (RING) fa_named_arrive(1 + (wg + 1) % NWG, 256);
        mma_wg_wait<0>();
        mma_wg_hold<64>(&S[0][0][0]);
        ft_release(&br.kempty[st]);
        if (mask) fl_mask<1, 128>(S, g, wp0, j0);
        moved = fl_weights<1, 128>(S, w.m, w.l, al);
    }
    if (ORDER == 2) w.moved = true, w.al[0][0] = al[0][0], w.al[0][1] = al[0][1];
    else if (moved) fl_rescale<64, 1>(w.O, al);
    ft_pack(S[0], w.a);
    w.pend = t;
}

/* The pending tile's P·V (after its deferred rescale), waited for, and its V released. */
template <int NS>
static __device__ __forceinline__ void ft_flush(unsigned char *vstages, const ft_bars &br,
                                                ft_state &w) {
    if (w.pend < 0) return;
    if (w.moved) fl_rescale<64, 1>(w.O, w.al); /* ORDER 2's deferred rescale, else false */
    w.moved = false;
    const int pst = w.pend % NS;
    fa_bar_wait(&br.vfull[pst], (w.pend / NS) & 1);
    ft_hold_a(w.a);
    mma_wg_hold<32>(&w.O[0][0][0]);
    mma_wg_fence();
    ft_issue_pv(vstages + pst * ft_shape<1, NS>::TB, w.a, w.O[0]);
    mma_wg_wait<0>();
    mma_wg_hold<32>(&w.O[0][0][0]);
    ft_release(&br.vempty[pst]);
    w.pend = -1;
}

/* A consumer warpgroup's loop (see the top of the file). */
template <int NWG, int NS, int ORDER, bool RING>
static __device__ void ft_consume(unsigned char *sm, const ft_bars &br, const cu_attn_geom &g,
                                  const ft_block &b) {
    typedef ft_shape<NWG, NS> F;
    const int warp = threadIdx.x >> 5, wg = warp >> 2, wr0 = warp * 16;
    const int wp0 = g.q0 + b.r0 + wr0, glast = g.q0 + b.r0 + wg * 64 + 63;
    const unsigned char *sq = sm + F::Q0 + wg * 64 * 128;
    ft_state w;
    w.m[0][0] = w.m[0][1] = -INFINITY, w.l[0][0] = w.l[0][1] = 0.0f, w.pend = -1;
    w.moved = false;
#pragma unroll
    for (int dc = 0; dc < 8; dc++)
#pragma unroll
        for (int e = 0; e < 4; e++) w.O[0][dc][e] = 0.0f;
    if (RING && wg == 0) fa_named_arrive(1, 256); /* the first turn is warpgroup 0's */
    for (int t = 0; t < b.n_t; t++) {
        const int st = t % NS, par = (t / NS) & 1;
        fa_bar_wait(&br.kfull[st], par);
        if (!g.causal || t * 128 <= glast) {
            ft_tile<NWG, NS, ORDER, RING>(sm, br, g, w, t, wp0, sq);
            continue;
        }
        /* no row of the warpgroup sees the tile: pass the turn, release the tile */
        if (RING) fa_named_sync(1 + wg, 256), fa_named_arrive(1 + (wg + 1) % NWG, 256);
        ft_release(&br.kempty[st]);
        ft_flush<NS>(sm + F::V0, br, w);
        fa_bar_wait(&br.vfull[st], par);
        ft_release(&br.vempty[st]);
    }
    ft_flush<NS>(sm + F::V0, br, w);
    fl_store<64, 1>(g, w.O, w.l, b.h, b.r0, wr0, b.nr);
}

template <int NWG, int NS, int ORDER, bool RING>
__global__ void __launch_bounds__(ft_shape<NWG, NS>::NT, 1)
    ft_kernel(const __grid_constant__ CUtensorMap tk, const __grid_constant__ CUtensorMap tv,
              const cu_attn_geom g, int nqb) {
    extern __shared__ __align__(128) unsigned char ft_raw[];
    unsigned char *sm = ft_raw + ((1024 - (fa_saddr(ft_raw) & 1023)) & 1023);
    const ft_bars br = ft_bars_at<NWG, NS>(sm);
    const ft_block b = ft_rows<NWG>(g, nqb);
    const int warp = threadIdx.x >> 5;
    if (threadIdx.x == 128 * NWG) {
        for (int s = 0; s < NS; s++) {
            fa_bar_init(&br.kfull[s], 1), fa_bar_init(&br.vfull[s], 1);
            fa_bar_init(&br.kempty[s], 4 * NWG), fa_bar_init(&br.vempty[s], 4 * NWG);
        }
        fa_bar_init_fence();
    }
    if (warp < 4 * NWG)
        ft_load_q(sm + ft_shape<NWG, NS>::Q0 + (warp >> 2) * 64 * 128, g, b.h, b.r0, b.nr,
                  warp >> 2);
    mma_fence_proxy_async(); /* q′ written by the generic proxy, read by wgmma */
    __syncthreads();
    if (warp >= 4 * NWG) { /* the producer warpgroup gives its registers to the consumers */
        fa_setmaxnreg_dec<24>();
        if (threadIdx.x == 128 * NWG) ft_produce<NWG, NS>(sm, br, &tk, &tv, b.kvh, b.n_t);
        return;
    }
    fa_setmaxnreg_inc<NWG == 3 ? 160 : 240>();
    ft_consume<NWG, NS, ORDER, RING>(sm, br, g, b);
}

/* ---- host side ------------------------------------------------------------------------- */

template <int NWG, int NS, int ORDER, bool RING>
static cudaError_t ft_launch(const cu_attn_geom *g, cudaStream_t st) {
    typedef ft_shape<NWG, NS> F;
    const size_t smem = F::BYTES + 1024; /* + the alignment */
    static unsigned ready; /* devices whose attribute is set for this kernel */
    cudaError_t e = cu_attn_allow_smem((const void *)ft_kernel<NWG, NS, ORDER, RING>, smem, &ready);
    if (e != cudaSuccess) return e;
    CUtensorMap tk, tv;
    if ((e = cu_attn_tma_kv_map(&tk, g->k, g)) != cudaSuccess ||
        (e = cu_attn_tma_kv_map(&tv, g->v, g)) != cudaSuccess)
        return e;
    const int nqb = (g->nq + F::BM - 1) / F::BM;
    ft_kernel<NWG, NS, ORDER, RING>
        <<<(unsigned)nqb * (unsigned)g->H, F::NT, smem, st>>>(tk, tv, *g, nqb);
    return cudaGetLastError();
}

/* The variants (consumer warpgroups, stages, issue order, turns), measured on an H200 (B1 H12
 * d64 causal bf16, 4k / 16k / 64k keys, the final run; SDPA there 0.100 / 0.97 / 14.6 ms):
 * z: 3, 2, ORDER 1, RING — the fast path's default on sm_90a: 0.080 / 0.940 / 13.6 ms;
 * y: z without the turns: 0.083 / 0.949 / 14.3;
 * n: ORDER 0: 0.083 / 0.979 / 14.9;  o: ORDER 2: 0.083 / 0.985 / 15.1.
 * With a branch between a product's issue and its wait (ptxas then serialises the products)
 * ORDER 0 ran 0.089 / 1.05 / 15.6 and z 0.093 / 1.17 / 17.5. Measured and dropped earlier: 2
 * consumer warpgroups (0.11 / 1.27–1.36 / 19–21), 3 stages (no gain), every 4th or 8th group of
 * keys' exp2 by a polynomial on the FMA pipes (slower: the special-function unit is not what
 * limits). */
cudaError_t cu_attn_flash_tma_launch(const cu_attn_geom *g, char variant, cudaStream_t st) {
    if (g->d != 64 || !cu_attn_flash_wgmma_available()) return cudaErrorNotSupported;
    switch (variant) {
    case 'y': return ft_launch<3, 2, 1, false>(g, st);
    case 'z': return ft_launch<3, 2, 1, true>(g, st);
    case 'o': return ft_launch<3, 2, 2, false>(g, st);
    case 'n': return ft_launch<3, 2, 0, false>(g, st);
    default: return cudaErrorNotSupported;
    }
}
