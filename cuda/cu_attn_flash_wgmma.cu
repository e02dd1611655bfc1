/* cu_attn_flash_wgmma.cu — the bf16 softmax fast path on Hopper's warpgroup products (wgmma,
 * sm_90a) with every thread loading, head size 64 (docs/ATTENTION_MATH.md, "The CUDA kernels").
 *
 * A block is NWG warpgroups of 4 warps, 64 query rows each; a warp holds 16 rows in
 * mma.sync's accumulator layout, so the masks, the online softmax and the outputs are those of
 * cu_attn_flash.cuh. S = Q′Kᵀ is 4 wgmma m64nBNk16 a tile, O += P·V BN/16 wgmma m64n64k16
 * with the weights as A from registers and V from shared memory read N-major. Key tiles of K
 * and V come in with cp.async in three stages (tile t−1's V is still read while tile t+1
 * loads), fenced to the async proxy before use, one block-wide barrier a tile. Every register a
 * product reads (A fragments, zeroed or rescaled accumulators) is pinned before the wgmma
 * fence, so that the compiler cannot write it after the fence. The loop overlaps the softmax of
 * tile t with the P·V product of tile t−1 (issued right after tile t's QKᵀ is done, the output
 * rescaled once it is), FlashAttention-3's intra-warpgroup pipelining.
 *
 * Variants (measured on an H200, B1 H12 d64 causal, 4k / 16k / 64k keys):
 * k: 2 warpgroups, 64-key tiles as wgmma's unswizzled core matrices (8 keys × 16 bytes, 128
 *    contiguous bytes; the descriptors give the stride between core matrices along K as the
 *    leading byte offset and along M or N as the stride byte offset, for K-major K and N-major
 *    V alike), q′ as register A operands: 0.134 / 1.52 / 23.5 ms;
 * s: k with the tiles in the 128-byte swizzle (cu_attn_flash_sm90.cuh): 0.100 / 1.12 / 17.4;
 * u: 3 warpgroups (192 rows), 128-key tiles, q′ from swizzled shared memory: 0.095 / 1.17 /
 *    17.5.
 * The TMA-fed kernel of cu_attn_flash_tma.cu, the default, is faster than all three.
 */
#include "cu_attn_flash.cuh"
#include "cu_attn_flash.h"
#include "cu_attn_flash_sm90.cuh"

/* The block's shared memory, from a 1024-byte aligned base: NS stages of [K tile][V tile]
 * (BN·D·2 bytes each); q′ is staged (BM rows padded by 8) over stages 1 and 2, which the
 * first loads leave alone until every thread has its q′ fragments. */
template <int D, int BN, int NWG> struct fw_shape {
    static constexpr int NS = 3, BM = 64 * NWG, NT = 128 * NWG, TB = BN * D * 2;
    static constexpr int QB = BM * (D + 8) * 2, BYTES = NS * 2 * TB, QSW = BM * D * 2;
    static_assert(QB <= 2 * 2 * TB, "q' staging must fit in stages 1 and 2");
};

/* K and V of keys j0 … j0+BN−1 into a stage (keys past nk are 0): SW, the 128-byte swizzle
 * (consecutive threads read consecutive 16 bytes of a key); else core matrices (consecutive
 * threads write consecutive 16 bytes; a warp still reads whole 32-byte sectors). */
template <int D, int BN, int NWG, bool SW>
static __device__ __forceinline__ void fw_load_kv(unsigned char *stage, const cu_attn_geom &g,
                                                  int kvh, int j0) {
    constexpr int CH = D / 8, NT = fw_shape<D, BN, NWG>::NT, TB = fw_shape<D, BN, NWG>::TB;
    constexpr int N = BN * CH, IT = (N + NT - 1) / NT;
    const __nv_bfloat16 *K = (const __nv_bfloat16 *)g.k, *V = (const __nv_bfloat16 *)g.v;
#pragma unroll
    for (int it = 0; it < IT; it++) {
        const int idx = (int)threadIdx.x + it * NT;
        if (N % NT != 0 && idx >= N) break;
        int key, c;
        uint32_t dst;
        if (SW) key = idx / CH, c = idx % CH, dst = fa_sw128(key, c);
        else key = (idx / (8 * CH)) * 8 + (idx & 7), c = (idx >> 3) % CH, dst = idx * 16;
        const bool in = j0 + key < g.nk;
        const size_t off = in ? ((size_t)(j0 + key) * g.Hk + kvh) * D + c * 8 : 0;
        mma_cp_async16(stage + dst, K + off, in ? 16 : 0);
        mma_cp_async16(stage + TB + dst, V + off, in ? 16 : 0);
    }
}

/* The core-matrix strides: along the 8-key groups and along the 16-byte chunks of d. */
template <int D> struct fw_strides {
    static constexpr uint32_t keys = (D / 8) * 128, chunks = 128;
};

/* Issues S += Q′Kᵀ over the K tile at kst (SW: S need not be zeroed, the first step sets it;
 * else the caller zeroes and pins it before its fence); QS: q′ from the warpgroup's swizzled
 * rows at sq, else from the A fragments qf. */
template <int D, int BN, bool SW, bool QS>
static __device__ __forceinline__ void fw_issue_s(const unsigned char *kst, const unsigned char *sq,
                                                  const uint32_t (*qf)[4], float (*S)[4]) {
    constexpr uint32_t lbo = fw_strides<D>::chunks, sbo = fw_strides<D>::keys;
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++) { /* K-major B: d chunks 2kc, 2kc+1 of every key */
        if (QS)
            fa_wg_64x128x16_ss(&S[0][0], fa_desc_sw128(sq + kc * 32),
                               fa_desc_sw128(kst + kc * 32), kc);
        else if (SW && BN == 128)
            fa_wg_64x128x16_rs(&S[0][0], qf[kc], fa_desc_sw128(kst + kc * 32), kc);
        else if (SW) fa_wg_64x64x16_rs<0>(&S[0][0], qf[kc], fa_desc_sw128(kst + kc * 32), kc);
        else mma_wg_64x64x16<0>(&S[0][0], qf[kc], mma_wg_desc(kst + kc * 2 * 128, lbo, sbo));
    }
}

/* The weights of the tile, rounded to bf16, as P·V's A operands (16 keys each). */
template <int BN>
static __device__ __forceinline__ void fw_pack(const float (*S)[4], uint32_t (*a)[4]) {
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
        a[kk][0] = mma_pack_bf16(S[2 * kk][0], S[2 * kk][1]);
        a[kk][1] = mma_pack_bf16(S[2 * kk][2], S[2 * kk][3]);
        a[kk][2] = mma_pack_bf16(S[2 * kk + 1][0], S[2 * kk + 1][1]);
        a[kk][3] = mma_pack_bf16(S[2 * kk + 1][2], S[2 * kk + 1][3]);
    }
}

/* Issues O += P·V over the V tile at vst. */
template <int D, int BN, bool SW>
static __device__ __forceinline__ void fw_issue_pv(const unsigned char *vst,
                                                   const uint32_t (*a)[4], float (*O)[4]) {
    constexpr uint32_t lbo = fw_strides<D>::keys, sbo = fw_strides<D>::chunks;
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) { /* N-major B: keys 16kk … 16kk+15, every d chunk */
        if (SW) mma_wg_64x64x16<1>(&O[0][0], a[kk], fa_desc_sw128(vst + kk * 16 * D * 2));
        else mma_wg_64x64x16<1>(&O[0][0], a[kk], mma_wg_desc(vst + kk * 2 * D * 16, lbo, sbo));
    }
}

/* Pins the weights' A fragments for a following wgmma fence. */
template <int BN> static __device__ __forceinline__ void fw_hold_a(uint32_t (*a)[4]) {
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++)
#pragma unroll
        for (int i = 0; i < 4; i++) asm volatile("" : "+r"(a[kk][i])::"memory");
}

/* O += P·V of a tile whose weights are in a, waited for. */
template <int D, int BN, bool SW>
static __device__ __forceinline__ void fw_final_pv(const unsigned char *vst, uint32_t (*a)[4],
                                                   float (*O)[4]) {
    fw_hold_a<BN>(a);
    mma_wg_hold<D / 2>(&O[0][0]);
    mma_wg_fence();
    fw_issue_pv<D, BN, SW>(vst, a, O);
    mma_wg_commit();
    mma_wg_wait<0>();
    mma_wg_hold<D / 2>(&O[0][0]);
}

template <int BN> static __device__ __forceinline__ void fw_zero(float (*S)[4]) {
#pragma unroll
    for (int nc = 0; nc < BN / 8; nc++)
#pragma unroll
        for (int e = 0; e < 4; e++) S[nc][e] = 0.0f;
}

/* What the loop sets up: the block's rows, q′ in shared memory and as A fragments, O = 0. */
struct fw_block {
    int h, kvh, r0, nr, wr0, wp0, glast, n_t;
};

/* q′ of the block's rows (0 past nr) as bf16 into sq, 128-byte swizzled rows. */
template <int D, int BM, int NT>
static __device__ __forceinline__ void fw_load_q_sw(unsigned char *sq, const cu_attn_geom &g,
                                                    int h, int r0, int nr) {
    static_assert(D == 64, "one swizzle row per q row");
    for (int c = threadIdx.x; c < BM * 8; c += NT) {
        const int r = c / 8, x = (c % 8) * 8;
        float4 v0 = make_float4(0.0f, 0.0f, 0.0f, 0.0f), v1 = v0;
        if (r < nr) {
            const float *q = g.q + ((size_t)(r0 + r) * g.H + h) * D + x;
            v0 = *(const float4 *)q, v1 = *(const float4 *)(q + 4);
            const float f = cu_attn_qfactor(g, r0 + r, h);
            v0.x *= f, v0.y *= f, v0.z *= f, v0.w *= f, v1.x *= f, v1.y *= f, v1.z *= f, v1.w *= f;
        }
        *(uint4 *)(sq + fa_sw128(r, c % 8)) =
            make_uint4(mma_pack_bf16(v0.x, v0.y), mma_pack_bf16(v0.z, v0.w),
                       mma_pack_bf16(v1.x, v1.y), mma_pack_bf16(v1.z, v1.w));
    }
}

template <int D, int BN, int NWG, bool SW, bool QS>
static __device__ __forceinline__ fw_block fw_setup(unsigned char *sm, const cu_attn_geom &g,
                                                    int nqb, uint32_t (*qf)[4], float (*O)[4]) {
    typedef fw_shape<D, BN, NWG> F;
    fw_block b;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    b.h = (int)(blockIdx.x % (unsigned)g.H), b.kvh = b.h / g.group;
    b.r0 = (nqb - 1 - (int)(blockIdx.x / (unsigned)g.H)) * F::BM;
    b.nr = min(F::BM, g.nq - b.r0);
    const int p0 = g.q0 + b.r0;
    const int khi = g.causal ? min(g.nk, p0 + b.nr) : g.nk;
    b.n_t = (khi + BN - 1) / BN;
    b.wr0 = warp * 16, b.wp0 = p0 + b.wr0;
    b.glast = p0 + (warp >> 2) * 64 + 63; /* the warpgroup's last row */
    if (b.n_t > 0) fw_load_kv<D, BN, NWG, SW>(sm, g, b.kvh, 0);
    mma_cp_commit();
    if (QS) {
        fw_load_q_sw<D, F::BM, F::NT>(sm + F::BYTES, g, b.h, b.r0, b.nr);
        mma_fence_proxy_async();
        __syncthreads();
    } else {
        __nv_bfloat16(*sq)[D + 8] = reinterpret_cast<__nv_bfloat16(*)[D + 8]>(sm + 2 * F::TB);
        fl_load_q<D, F::BM, F::NT>(sq, g, b.h, b.r0, b.nr);
        __syncthreads();
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++)
            mma_ldsm_x4(&sq[b.wr0 + (lane & 15)][kc * 16 + (lane >> 4) * 8], qf[kc]);
    }
    fw_zero<D>(O);
    return b;
}

/* S = Q′Kᵀ of the tile at kst, waited for, and masked where the tile crosses a row's range. */
template <int D, int BN, bool SW, bool QS>
static __device__ __forceinline__ void fw_scores(const unsigned char *kst, const unsigned char *sq,
                                                 const uint32_t (*qf)[4], float (*S)[BN / 8][4],
                                                 float (*O)[D / 8][4], const cu_attn_geom &g,
                                                 const fw_block &b, int j0) {
    if (!SW) fw_zero<BN>(S[0]);
    mma_wg_hold<BN / 2>(&S[0][0][0]);
    mma_wg_hold<D / 2>(&O[0][0][0]);
    mma_wg_fence();
    fw_issue_s<D, BN, SW, QS>(kst, sq, qf, S[0]);
    mma_wg_commit();
    mma_wg_wait<0>();
    mma_wg_hold<BN / 2>(&S[0][0][0]);
    if (j0 + BN > g.nk || (g.causal && j0 + BN - 1 > b.wp0)) fl_mask<1, BN>(S, g, b.wp0, j0);
}

/* The overlapped loop (see the top of the file). Tile t loads at the top of iteration t − 1,
 * into stage t % 3, after the barrier that ends every read of tile t − 3. */
template <int D, int BN, int NWG, bool SW, bool QS, int MINB>
__global__ void __launch_bounds__(128 * NWG, MINB) fo_kernel(const cu_attn_geom g, int nqb) {
    static_assert(D == 64 && (BN == 64 || (SW && BN == 128)), "the wgmma shapes of d 64");
    static_assert(!QS || (SW && BN == 128), "q' from shared memory: swizzled 128-key tiles");
    typedef fw_shape<D, BN, NWG> F;
    extern __shared__ __align__(128) unsigned char fw_raw[];
    unsigned char *sm = fw_raw + ((1024 - (fa_saddr(fw_raw) & 1023)) & 1023);
    uint32_t qf[D / 16][4], a[BN / 16][4];
    float O[1][D / 8][4], m[1][2] = {{-INFINITY, -INFINITY}}, l[1][2] = {{0.0f, 0.0f}};
    const fw_block b = fw_setup<D, BN, NWG, SW, QS>(sm, g, nqb, qf, O[0]);
    const unsigned char *sq = sm + F::BYTES + (threadIdx.x >> 7) * 64 * D * 2; /* QS */
    int pend = -1; /* the stage whose P·V is still to be issued (its weights in a), or −1 */
    for (int t = 0; t < b.n_t; t++) {
        const int st = t % F::NS, j0 = t * BN;
        mma_cp_wait<0>();
        mma_fence_proxy_async();
        __syncthreads();
        if (t + 1 < b.n_t)
            fw_load_kv<D, BN, NWG, SW>(sm + (t + 1) % F::NS * 2 * F::TB, g, b.kvh, j0 + BN);
        mma_cp_commit();
        const bool act = !g.causal || j0 <= b.glast; /* uniform over the warpgroup */
        if (!act && pend < 0) continue;
        const unsigned char *kst = sm + st * 2 * F::TB, *vpend = sm + pend * 2 * F::TB + F::TB;
        float S[1][BN / 8][4], al[1][2];
        auto weights = [&]() { return fl_weights<1, BN>(S, m, l, al); };
        bool moved = false;
        if (act && pend >= 0) {
            fw_scores<D, BN, SW, QS>(kst, sq, qf, S, O, g, b, j0);
            /* tile t−1's P·V runs while tile t's weights are computed: no branch in between,
             * or the compiler serialises the products */
            fw_hold_a<BN>(a);
            mma_wg_hold<D / 2>(&O[0][0][0]);
            mma_wg_fence();
            fw_issue_pv<D, BN, SW>(vpend, a, O[0]);
            mma_wg_commit();
            moved = weights();
            mma_wg_wait<0>();
            mma_wg_hold<D / 2>(&O[0][0][0]);
        } else if (act) {
            fw_scores<D, BN, SW, QS>(kst, sq, qf, S, O, g, b, j0);
            moved = weights();
        } else {
            fw_final_pv<D, BN, SW>(vpend, a, O[0]);
        }
        if (moved) fl_rescale<D, 1>(O, al);
        if (act) fw_pack<BN>(S[0], a);
        pend = act ? st : -1;
    }
    if (pend >= 0) fw_final_pv<D, BN, SW>(sm + pend * 2 * F::TB + F::TB, a, O[0]);
    fl_store<D, 1>(g, O, l, b.h, b.r0, b.wr0, b.nr);
}

template <int BN, int NWG, bool SW, bool QS, int MINB>
static cudaError_t fw_launch(const cu_attn_geom *g, cudaStream_t st) {
    typedef fw_shape<64, BN, NWG> F;
    const size_t smem = F::BYTES + (QS ? F::QSW : 0) + 1024; /* + the alignment */
    static unsigned ready; /* devices whose attribute is set for this kernel */
    cudaError_t e =
        cu_attn_allow_smem((const void *)fo_kernel<64, BN, NWG, SW, QS, MINB>, smem, &ready);
    if (e != cudaSuccess) return e;
    const int bm = 64 * NWG, nqb = (g->nq + bm - 1) / bm;
    fo_kernel<64, BN, NWG, SW, QS, MINB><<<(unsigned)nqb * (unsigned)g->H, 128 * NWG, smem, st>>>(
        *g, nqb);
    return cudaGetLastError();
}

/* 1 where this build carries the wgmma code for the device (sm_90a), else 0. */
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ const int fw_built_for_device = 1;
#else
__device__ const int fw_built_for_device = 0;
#endif

/* 1 if the current device is compute capability 9.0 and this build has sm_90a code for it
 * (learned once per device: one small copy from the device). */
int cu_attn_flash_wgmma_available(void) {
    static unsigned known, yes; /* bits per device index */
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev >= 32) return 0;
    const unsigned bit = 1u << dev;
    if (__atomic_load_n(&known, __ATOMIC_ACQUIRE) & bit)
        return (__atomic_load_n(&yes, __ATOMIC_RELAXED) & bit) != 0;
    int major = 0, minor = 0, built = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
        return 0;
    if (major == 9 && minor == 0 &&
        cudaMemcpyFromSymbol(&built, fw_built_for_device, sizeof built) != cudaSuccess)
        built = 0;
    const int ok = major == 9 && minor == 0 && built == 1;
    if (ok) __atomic_fetch_or(&yes, bit, __ATOMIC_RELAXED);
    __atomic_fetch_or(&known, bit, __ATOMIC_RELEASE);
    return ok;
}

cudaError_t cu_attn_flash_wgmma_launch(const cu_attn_geom *g, char variant, cudaStream_t st) {
    if (g->d != 64 || !cu_attn_flash_wgmma_available()) return cudaErrorNotSupported;
    switch (variant) {
    case 'k': return fw_launch<64, 2, false, false, 2>(g, st);
    case 's': return fw_launch<64, 2, true, false, 2>(g, st);
    case 'u': return fw_launch<128, 3, true, true, 1>(g, st);
    default: return cudaErrorNotSupported;
    }
}
