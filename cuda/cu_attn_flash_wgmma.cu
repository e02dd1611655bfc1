/* cu_attn_flash_wgmma.cu — the bf16 softmax fast path on Hopper's warpgroup products (wgmma,
 * sm_90a), head size 64 (docs/ATTENTION_MATH.md, "The CUDA kernels").
 *
 * A block is two warpgroups of 4 warps, 64 query rows each; a warp holds 16 rows in
 * mma.sync's accumulator layout, so the masks, the online softmax and the outputs are those of
 * cu_attn_flash.cuh. S = Q′Kᵀ is 4 wgmma m64n64k16 a tile with q′ as the A operand from
 * registers and K from shared memory; O += P·V is 4 more with the weights as A from registers
 * and V from shared memory read N-major. K and V tiles are stored as wgmma's core matrices (8
 * keys × 16 bytes, 128 contiguous bytes; chunk c of key j at ((j/8)·(D/8) + c)·128 + (j%8)·16
 * bytes), loaded with cp.async in three stages, and fenced to the async proxy before use.
 * The descriptors give the stride between core matrices along K as the leading byte offset and
 * along M or N as the stride byte offset, for K-major (K) and N-major (V) operands alike. Every
 * register a product reads (A fragments, zeroed or rescaled accumulators) is pinned before the
 * wgmma fence, so that the compiler cannot write it after the fence.
 *
 * The loop overlaps the softmax of tile t with the P·V product of tile t−1 (issued right after
 * tile t's QKᵀ is done, the output rescaled once it is), FlashAttention-3's intra-warpgroup
 * pipelining; three stages of K and V, since tile t−1's V is still being read while tile t+1
 * loads. On the H200 it is about 10% slower than the mma.sync kernel (cu_attn_flash_bf16.cu)
 * at 16k and 64k keys, so it runs only when asked for (SPARSA_CUDA_FLASH=k).
 */
#include "cu_attn_flash.cuh"
#include "cu_attn_flash.h"

template <int D, int BN, int NS, int NWG> struct fw_smem {
    __nv_bfloat16 k[NS][BN * D]; /* core-matrix layout, see above */
    __nv_bfloat16 v[NS][BN * D];
    __nv_bfloat16 q[64 * NWG][D + 8];
};

/* K and V of keys j0 … j0+BN−1 into stage st in the core-matrix layout (consecutive threads
 * write consecutive 16 bytes; a warp still reads whole 32-byte sectors); keys past nk are 0. */
template <int D, int BN, int NS, int NWG>
static __device__ __forceinline__ void fw_load_kv(fw_smem<D, BN, NS, NWG> &s, int st,
                                                  const cu_attn_geom &g, int kvh, int j0) {
    constexpr int CH = D / 8, NT = 128 * NWG;
    static_assert(BN * CH % NT == 0, "tile chunks must divide among the threads");
    const __nv_bfloat16 *K = (const __nv_bfloat16 *)g.k, *V = (const __nv_bfloat16 *)g.v;
#pragma unroll
    for (int it = 0; it < BN * CH / NT; it++) {
        const int idx = (int)threadIdx.x + it * NT;
        const int key = (idx / (8 * CH)) * 8 + (idx & 7), col = ((idx >> 3) % CH) * 8;
        const bool in = j0 + key < g.nk;
        const size_t off = in ? ((size_t)(j0 + key) * g.Hk + kvh) * D + col : 0;
        mma_cp_async16(&s.k[st][idx * 8], K + off, in ? 16 : 0);
        mma_cp_async16(&s.v[st][idx * 8], V + off, in ? 16 : 0);
    }
}

/* The core-matrix strides: along the 8-key groups and along the 16-byte chunks of d. */
template <int D> struct fw_strides {
    static constexpr uint32_t keys = (D / 8) * 128, chunks = 128;
};

/* Issues S (zeroed and pinned by the caller before its fence) += Q′Kᵀ over the tile in kst. */
template <int D, int BN>
static __device__ __forceinline__ void fw_issue_s(const __nv_bfloat16 *kst,
                                                  const uint32_t (*qf)[4], float (*S)[4]) {
    constexpr uint32_t lbo = fw_strides<D>::chunks, sbo = fw_strides<D>::keys;
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++) /* K-major B: d chunks 2kc, 2kc+1 of every key */
        mma_wg_64x64x16<0>(&S[0][0], qf[kc], mma_wg_desc(kst + kc * 2 * 64, lbo, sbo));
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

/* Issues O += P·V over the tile in vst. */
template <int D, int BN>
static __device__ __forceinline__ void fw_issue_pv(const __nv_bfloat16 *vst,
                                                   const uint32_t (*a)[4], float (*O)[4]) {
    constexpr uint32_t lbo = fw_strides<D>::keys, sbo = fw_strides<D>::chunks;
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) /* N-major B: key groups 2kk, 2kk+1, every d chunk */
        mma_wg_64x64x16<1>(&O[0][0], a[kk], mma_wg_desc(vst + kk * 2 * (D / 8) * 64, lbo, sbo));
}

/* Pins the weights' A fragments for a following wgmma fence. */
template <int BN> static __device__ __forceinline__ void fw_hold_a(uint32_t (*a)[4]) {
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++)
#pragma unroll
        for (int i = 0; i < 4; i++) asm volatile("" : "+r"(a[kk][i])::"memory");
}

/* O += P·V of a tile whose weights are in a, waited for. */
template <int D, int BN>
static __device__ __forceinline__ void fw_final_pv(const __nv_bfloat16 *vst, uint32_t (*a)[4],
                                                   float (*O)[4]) {
    fw_hold_a<BN>(a);
    mma_wg_hold<D / 2>(&O[0][0]);
    mma_wg_fence();
    fw_issue_pv<D, BN>(vst, a, O);
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

/* What both loops set up: the block's rows, q′ in shared memory and as A fragments, O = 0. */
struct fw_block {
    int h, kvh, r0, nr, wr0, wp0, glast, n_t;
};

template <int D, int BN, int NS, int NWG>
static __device__ __forceinline__ fw_block fw_setup(fw_smem<D, BN, NS, NWG> &s,
                                                    const cu_attn_geom &g, int nqb,
                                                    uint32_t (*qf)[4], float (*O)[4]) {
    constexpr int BM = 64 * NWG;
    fw_block b;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    b.h = (int)(blockIdx.x % (unsigned)g.H), b.kvh = b.h / g.group;
    b.r0 = (nqb - 1 - (int)(blockIdx.x / (unsigned)g.H)) * BM, b.nr = min(BM, g.nq - b.r0);
    const int p0 = g.q0 + b.r0;
    const int khi = g.causal ? min(g.nk, p0 + b.nr) : g.nk;
    b.n_t = (khi + BN - 1) / BN;
    b.wr0 = warp * 16, b.wp0 = p0 + b.wr0;
    b.glast = p0 + (warp >> 2) * 64 + 63; /* the warpgroup's last row */
    if (b.n_t > 0) fw_load_kv(s, 0, g, b.kvh, 0);
    mma_cp_commit();
    fl_load_q<D, BM, 128 * NWG>(s.q, g, b.h, b.r0, b.nr);
    __syncthreads();
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++)
        mma_ldsm_x4(&s.q[b.wr0 + (lane & 15)][kc * 16 + (lane >> 4) * 8], qf[kc]);
    fw_zero<D>(O);
    return b;
}

/* S = Q′Kᵀ of the tile in kst, waited for, and masked where the tile crosses a row's range. */
template <int D, int BN>
static __device__ __forceinline__ void fw_scores(const __nv_bfloat16 *kst,
                                                 const uint32_t (*qf)[4], float (*S)[BN / 8][4],
                                                 float (*O)[D / 8][4], const cu_attn_geom &g,
                                                 const fw_block &b, int j0) {
    fw_zero<BN>(S[0]);
    mma_wg_hold<BN / 2>(&S[0][0][0]);
    mma_wg_hold<D / 2>(&O[0][0][0]);
    mma_wg_fence();
    fw_issue_s<D, BN>(kst, qf, S[0]);
    mma_wg_commit();
    mma_wg_wait<0>();
    mma_wg_hold<BN / 2>(&S[0][0][0]);
    if (j0 + BN > g.nk || (g.causal && j0 + BN - 1 > b.wp0)) fl_mask<1, BN>(S, g, b.wp0, j0);
}

/* The overlapped loop (see the top of the file). Tile t loads at the top of iteration t − 1,
 * into stage t % 3, after the barrier that ends every read of tile t − 3. */
template <int D, int BN, int NWG>
__global__ void __launch_bounds__(128 * NWG, 2) fo_kernel(const cu_attn_geom g, int nqb) {
    static_assert(D == 64 && BN == 64, "the wgmma shapes are for 64 × 64 tiles");
    extern __shared__ __align__(128) unsigned char fw_raw[];
    fw_smem<D, BN, 3, NWG> &s = *reinterpret_cast<fw_smem<D, BN, 3, NWG> *>(fw_raw);
    uint32_t qf[D / 16][4], a[BN / 16][4];
    float O[1][D / 8][4], m[1][2] = {{-INFINITY, -INFINITY}}, l[1][2] = {{0.0f, 0.0f}};
    const fw_block b = fw_setup(s, g, nqb, qf, O[0]);
    int pend = -1; /* the stage whose P·V is still to be issued (its weights in a), or −1 */
    for (int t = 0; t < b.n_t; t++) {
        const int st = t % 3, j0 = t * BN;
        mma_cp_wait<0>();
        mma_fence_proxy_async();
        __syncthreads();
        if (t + 1 < b.n_t) fw_load_kv(s, (t + 1) % 3, g, b.kvh, j0 + BN);
        mma_cp_commit();
        const bool act = !g.causal || j0 <= b.glast; /* uniform over the warpgroup */
        if (!act && pend < 0) continue;
        float S[1][BN / 8][4], al[1][2];
        auto weights = [&]() { return fl_weights<1, BN>(S, m, l, al); };
        bool moved = false;
        if (act && pend >= 0) {
            fw_scores<D, BN>(s.k[st], qf, S, O, g, b, j0);
            /* tile t−1's P·V runs while tile t's weights are computed: no branch in between,
             * or the compiler serialises the products */
            fw_hold_a<BN>(a);
            mma_wg_hold<D / 2>(&O[0][0][0]);
            mma_wg_fence();
            fw_issue_pv<D, BN>(s.v[pend], a, O[0]);
            mma_wg_commit();
            moved = weights();
            mma_wg_wait<0>();
            mma_wg_hold<D / 2>(&O[0][0][0]);
        } else if (act) {
            fw_scores<D, BN>(s.k[st], qf, S, O, g, b, j0);
            moved = weights();
        } else {
            fw_final_pv<D, BN>(s.v[pend], a, O[0]);
        }
        if (moved) fl_rescale<D, 1>(O, al);
        if (act) fw_pack<BN>(S[0], a);
        pend = act ? st : -1;
    }
    if (pend >= 0) fw_final_pv<D, BN>(s.v[pend], a, O[0]);
    fl_store<D, 1>(g, O, l, b.h, b.r0, b.wr0, b.nr);
}

static cudaError_t fw_launch(const cu_attn_geom *g, cudaStream_t st) {
    const size_t smem = sizeof(fw_smem<64, 64, 3, 2>);
    static unsigned ready; /* devices (bit per index) whose attribute is set */
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return e;
    const unsigned bit = dev < 32 ? 1u << dev : 0u;
    if (!bit || !(__atomic_load_n(&ready, __ATOMIC_RELAXED) & bit)) {
        e = cudaFuncSetAttribute(fo_kernel<64, 64, 2>,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
        __atomic_fetch_or(&ready, bit, __ATOMIC_RELAXED);
    }
    const int nqb = (g->nq + 127) / 128;
    fo_kernel<64, 64, 2><<<(unsigned)nqb * (unsigned)g->H, 256, smem, st>>>(*g, nqb);
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

cudaError_t cu_attn_flash_wgmma_launch(const cu_attn_geom *g, cudaStream_t st) {
    if (g->d != 64 || !cu_attn_flash_wgmma_available()) return cudaErrorNotSupported;
    return fw_launch(g, st);
}
