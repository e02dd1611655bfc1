/* cu_attn_flash_bf16.cu — the bf16 softmax fast path: FlashAttention-2's forward on mma.sync
 * m16n8k16 (bf16 operands, fp32 accumulation) for the calls cu_attn_flash.h lists
 * (docs/ATTENTION_MATH.md, "The CUDA kernels").
 *
 * A block is NW warps and BM = 16·MT·NW query rows of one head; each warp owns MT m-tiles of 16
 * consecutive rows, so every K and V fragment read from shared memory serves MT products. q′ =
 * q·c·scale is rounded to bf16 once, staged in shared memory and kept in registers as A
 * fragments for the whole key loop. Key tiles of BN keys come in with cp.async, double-buffered
 * (tile t+1 loads while tile t is computed); K's B fragments come from ldmatrix, V's from
 * ldmatrix.trans, from rows padded by 8 elements (the 8 rows of a fragment fall in distinct
 * banks). S = Q′Kᵀ stays in registers; the online softmax works in base 2 (one FMA and one ex2
 * a score), rescales O only when some row's maximum moved, and the weights, rounded to bf16,
 * are P·V's A operand straight from registers. The causal and end-of-cache masks are applied
 * only on tiles that cross them; a warp whose rows see no key of a tile skips it. Blocks are
 * numbered so that every head's last (longest) query blocks start first.
 */
#include "cu_attn_flash.cuh"
#include "cu_attn_flash.h"

static unsigned long long fl_launches;

template <int D, int MT, int NW, int BN> struct fl_smem {
    __nv_bfloat16 q[16 * MT * NW][D + 8];
    __nv_bfloat16 k[2][BN][D + 8];
    __nv_bfloat16 v[2][BN][D + 8];
};

/* K and V of the tile of keys j0 … j0+BN−1 into stage st; keys past nk are zero-filled. */
template <int D, int MT, int NW, int BN>
static __device__ __forceinline__ void fl_load_kv(fl_smem<D, MT, NW, BN> &s, int st,
                                                  const cu_attn_geom &g, int kvh, int j0) {
    constexpr int CH = D / 8, NT = 32 * NW; /* 16-byte chunks per row, threads */
    static_assert(BN * CH % NT == 0, "tile chunks must divide among the threads");
    const __nv_bfloat16 *K = (const __nv_bfloat16 *)g.k, *V = (const __nv_bfloat16 *)g.v;
#pragma unroll
    for (int it = 0; it < BN * CH / NT; it++) {
        const int c = (int)threadIdx.x + it * NT, row = c / CH, col = (c % CH) * 8;
        const int key = j0 + row;
        const bool in = key < g.nk;
        const size_t off = in ? ((size_t)key * g.Hk + kvh) * D + col : 0;
        mma_cp_async16(&s.k[st][row][col], K + off, in ? 16 : 0);
        mma_cp_async16(&s.v[st][row][col], V + off, in ? 16 : 0);
    }
}

/* S = Q′Kᵀ of the warp's MT m-tiles (rows wr0 … of the block) over the tile in stage st; q′'s
 * A fragments from qf, or with QS read again from shared memory (fewer registers). */
template <int D, int MT, int NW, int BN, bool QS>
static __device__ __forceinline__ void fl_scores(const fl_smem<D, MT, NW, BN> &s, int st,
                                                 const uint32_t (*qf)[D / 16][4],
                                                 float (*S)[BN / 8][4], int wr0) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nc = 0; nc < BN / 8; nc++)
#pragma unroll
            for (int e = 0; e < 4; e++) S[mt][nc][e] = 0.0f;
    /* lane l addresses row l % 8 of matrix l / 8: keys nc·8 + 8·(l / 16), d columns + 8·(l/8 % 2),
     * so the four registers are b0, b1 of key group nc and b0, b1 of group nc + 1 */
    const int krow = ((lane >> 4) << 3) + (lane & 7), kcol = ((lane >> 3) & 1) * 8;
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++) {
        uint32_t qa[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            if (QS)
                mma_ldsm_x4(&s.q[wr0 + mt * 16 + (lane & 15)][kc * 16 + (lane >> 4) * 8], qa[mt]);
            else
#pragma unroll
                for (int i = 0; i < 4; i++) qa[mt][i] = qf[mt][kc][i];
        }
#pragma unroll
        for (int nc = 0; nc < BN / 8; nc += 2) {
            uint32_t b[4];
            mma_ldsm_x4(&s.k[st][nc * 8 + krow][kc * 16 + kcol], b);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                mma_bf16_16816(S[mt][nc], qa[mt], b[0], b[1]);
                mma_bf16_16816(S[mt][nc + 1], qa[mt], b[2], b[3]);
            }
        }
    }
}

/* The weights in S rounded to bf16 pairs: P[mt][nc] holds row g's keys 2t, 2t+1 of key group
 * nc ([0]) and row g+8's ([1]), P·V's A operand as is. */
template <int MT, int BN>
static __device__ __forceinline__ void fl_pack(const float (*S)[BN / 8][4],
                                               uint32_t (*P)[BN / 8][2]) {
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nc = 0; nc < BN / 8; nc++) {
            P[mt][nc][0] = mma_pack_bf16(S[mt][nc][0], S[mt][nc][1]);
            P[mt][nc][1] = mma_pack_bf16(S[mt][nc][2], S[mt][nc][3]);
        }
}

/* O += P·V over the tile in stage st, P (bf16 pairs) as the A operand; LS: also L += P·1 (a
 * B operand of bf16 ones), the row sums of the rounded weights on the tensor cores. */
template <int D, int MT, int NW, int BN, bool LS>
static __device__ __forceinline__ void fl_pv(const fl_smem<D, MT, NW, BN> &s, int st,
                                             const uint32_t (*P)[BN / 8][2],
                                             float (*O)[D / 8][4], float (*L)[4]) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            a[mt][0] = P[mt][2 * kk][0], a[mt][1] = P[mt][2 * kk][1];
            a[mt][2] = P[mt][2 * kk + 1][0], a[mt][3] = P[mt][2 * kk + 1][1];
        }
#pragma unroll
        for (int dc = 0; dc < D / 8; dc += 2) {
            uint32_t b[4];
            mma_ldsm_x4_trans(&s.v[st][kk * 16 + (lane & 15)][dc * 8 + (lane >> 4) * 8], b);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                mma_bf16_16816(O[mt][dc], a[mt], b[0], b[1]);
                mma_bf16_16816(O[mt][dc + 1], a[mt], b[2], b[3]);
            }
        }
        if (LS)
#pragma unroll
            for (int mt = 0; mt < MT; mt++) mma_bf16_16816(L[mt], a[mt], 0x3F803F80u, 0x3F803F80u);
    }
}

template <int D, int MT, int NW, int BN, bool LS, bool QS>
__global__ void __launch_bounds__(32 * NW, QS ? 3 : 1) fl_kernel(const cu_attn_geom g, int nqb) {
    constexpr int BM = 16 * MT * NW;
    extern __shared__ __align__(16) unsigned char fl_raw[];
    fl_smem<D, MT, NW, BN> &s = *reinterpret_cast<fl_smem<D, MT, NW, BN> *>(fl_raw);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int h = (int)(blockIdx.x % (unsigned)g.H), kvh = h / g.group;
    const int r0 = (nqb - 1 - (int)(blockIdx.x / (unsigned)g.H)) * BM, nr = min(BM, g.nq - r0);
    const int p0 = g.q0 + r0; /* position of the block's first row */
    const int khi = g.causal ? min(g.nk, p0 + nr) : g.nk;
    const int n_t = (khi + BN - 1) / BN;
    if (n_t > 0) fl_load_kv(s, 0, g, kvh, 0);
    mma_cp_commit();
    fl_load_q<D, BM, 32 * NW>(s.q, g, h, r0, nr);
    __syncthreads();
    const int wr0 = warp * 16 * MT, wp0 = p0 + wr0, wlast = wp0 + 16 * MT - 1;
    uint32_t qf[MT][D / 16][4];
    float O[MT][D / 8][4], m[MT][2], l[MT][2], L[MT][4] = {}; /* LS: row sums, as O */
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++)
            if (!QS)
                mma_ldsm_x4(&s.q[wr0 + mt * 16 + (lane & 15)][kc * 16 + (lane >> 4) * 8],
                            qf[mt][kc]);
#pragma unroll
        for (int dc = 0; dc < D / 8; dc++)
#pragma unroll
            for (int e = 0; e < 4; e++) O[mt][dc][e] = 0.0f;
        m[mt][0] = m[mt][1] = -INFINITY;
        l[mt][0] = l[mt][1] = 0.0f;
    }
    for (int t = 0; t < n_t; t++) {
        const int st = t & 1, j0 = t * BN;
        if (t + 1 < n_t) fl_load_kv(s, st ^ 1, g, kvh, j0 + BN);
        mma_cp_commit();
        mma_cp_wait<1>();
        __syncthreads();
        if (!g.causal || j0 <= wlast) {
            float S[MT][BN / 8][4];
            fl_scores<D, MT, NW, BN, QS>(s, st, qf, S, wr0);
            if (j0 + BN > g.nk || (g.causal && j0 + BN - 1 > wp0)) fl_mask<MT, BN>(S, g, wp0, j0);
            float al[MT][2];
            uint32_t P[MT][BN / 8][2];
            const bool moved = fl_weights<MT, BN, !LS>(S, m, l, al);
            fl_pack<MT, BN>(S, P);
            if (moved) {
                fl_rescale<D, MT>(O, al);
                if (LS)
#pragma unroll
                    for (int mt = 0; mt < MT; mt++)
#pragma unroll
                        for (int e = 0; e < 4; e++) L[mt][e] *= al[mt][e >> 1];
            }
            fl_pv<D, MT, NW, BN, LS>(s, st, P, O, L);
        }
        __syncthreads();
    }
    if (LS)
#pragma unroll
        for (int mt = 0; mt < MT; mt++) l[mt][0] = L[mt][0], l[mt][1] = L[mt][2];
    fl_store<D, MT>(g, O, l, h, r0, wr0, nr, !LS);
}

/* ---- host side ------------------------------------------------------------------------- */

/* Kernels: head size 64 takes 4 warps of 32 rows and 64-key tiles (128 rows a block; each K
 * and V fragment serves two m-tiles; measured against 8 warps of 16 or 32 rows and 2 warps of
 * 32: the fastest), with the row sums of the weights on the tensor cores (g, the default where
 * the wgmma kernels cannot run: on an H200 1–3% faster than a, and the sums are those of the
 * bf16 weights that multiply V) or
 * in fp32 adds (a); h: g with q′ read from shared memory every tile, so that 3 blocks fit an
 * SM (measured slower); k|s|u, n|o|y|z: the wgmma kernels (cu_attn_flash.h). Head size 128
 * takes 8 warps of 16 rows with fp32 adds (the registers of two m-tiles of O and q′ at d 128
 * would spill). */
#define FL_DEFAULT 'g'
/* Head size 64 on a device and build with wgmma and a driver with tensor maps: the wgmma kernel
 * with a TMA load warpgroup (cu_attn_flash_tma.cu), on an H200 1.46x / 1.38x / 1.45x faster
 * than g at 4k / 16k / 64k keys (B1 H12 causal). */
#define FL_DEFAULT_SM90 'z'
/* The kernel SPARSA_CUDA_FLASH names, or '\0' for the default. */
static char fl_choice(void) {
    const char *e = getenv("SPARSA_CUDA_FLASH");
    return e && e[0] && !e[1] ? e[0] : '\0';
}

int cu_attn_flash_ok(const cu_attn_geom *g) {
    return fl_choice() != '0' && g->norm == CU_NORM_SOFTMAX && g->kv_bf16 && g->d == g->dv &&
           (g->d == 64 || g->d == 128) && g->nq >= 64 && !(g->softcap > 0.0f) && !g->slopes &&
           g->window <= 0 && !g->before_query && !g->stats;
}

template <int D, int MT, int NW, int BN, bool LS = false, bool QS = false>
static cudaError_t fl_launch(const cu_attn_geom *g, cudaStream_t st) {
    constexpr int BM = 16 * MT * NW;
    const size_t smem = sizeof(fl_smem<D, MT, NW, BN>);
    static unsigned ready; /* devices whose attribute is set for this kernel */
    cudaError_t e =
        cu_attn_allow_smem((const void *)fl_kernel<D, MT, NW, BN, LS, QS>, smem, &ready);
    if (e != cudaSuccess) return e;
    const int nqb = (g->nq + BM - 1) / BM;
    const unsigned blocks = (unsigned)nqb * (unsigned)g->H;
    fl_kernel<D, MT, NW, BN, LS, QS><<<blocks, 32 * NW, smem, st>>>(*g, nqb);
    return cudaGetLastError();
}

static cudaError_t fl_pick(const cu_attn_geom *g, cudaStream_t st) {
    if (g->d == 128) return fl_launch<128, 1, 8, 64>(g, st);
    char c = fl_choice();
    if (!c && cu_attn_flash_wgmma_available()) {
        const cudaError_t e = cu_attn_flash_tma_launch(g, FL_DEFAULT_SM90, st);
        if (e != cudaErrorNotSupported) return e; /* else (no tensor maps) the mma.sync one */
    }
    if (!c) c = FL_DEFAULT;
    /* the wgmma kernels where this device and build have them, else the mma.sync one */
    if (c && strchr("ksu", c) && cu_attn_flash_wgmma_available())
        return cu_attn_flash_wgmma_launch(g, c, st);
    if (c && strchr("noyz", c) && cu_attn_flash_wgmma_available())
        return cu_attn_flash_tma_launch(g, c, st);
    if (c == 'a') return fl_launch<64, 2, 4, 64>(g, st);
    if (c == 'h') return fl_launch<64, 2, 4, 64, true, true>(g, st);
    return fl_launch<64, 2, 4, 64, true>(g, st);
}

cudaError_t cu_attn_flash_launch(const cu_attn_geom *g, cudaStream_t st) {
    if (!cu_attn_flash_ok(g)) return cudaErrorNotSupported;
    __atomic_fetch_add(&fl_launches, 1ull, __ATOMIC_RELAXED);
    return fl_pick(g, st);
}

unsigned long long cu_attn_flash_launches(void) {
    return __atomic_load_n(&fl_launches, __ATOMIC_RELAXED);
}
