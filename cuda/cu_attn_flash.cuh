/* cu_attn_flash.cuh — the device steps the bf16 softmax fast path's kernels share
 * (cu_attn_flash_bf16.cu on mma.sync, cu_attn_flash_wgmma.cu on wgmma): q′ into shared memory,
 * the masks of a tile, the base-2 online softmax on the accumulator layout of a warp's 16-row
 * m-tiles (thread 4g + t holds rows g and g+8, keys 2t, 2t+1 of each group of 8), and the
 * rows' outputs (docs/ATTENTION_MATH.md, "The CUDA kernels").
 */
#ifndef SPARSA_CU_ATTN_FLASH_CUH
#define SPARSA_CU_ATTN_FLASH_CUH

#include "cu_attn_internal.h"
#include "cu_mma_bf16.cuh"

#define FL_L2E 1.4426950408889634f

/* q′ of the block's rows r0 … r0+nr−1 (head h) into shared memory as bf16; rows past nr are 0. */
template <int D, int BM, int NT>
static __device__ __forceinline__ void fl_load_q(__nv_bfloat16 (*sq)[D + 8], const cu_attn_geom &g,
                                                 int h, int r0, int nr) {
    constexpr int C4 = D / 4;
    for (int c = threadIdx.x; c < BM * C4; c += NT) {
        const int r = c / C4, x = (c % C4) * 4;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (r < nr) {
            v = *(const float4 *)(g.q + ((size_t)(r0 + r) * g.H + h) * D + x);
            const float f = cu_attn_qfactor(g, r0 + r, h);
            v.x *= f, v.y *= f, v.z *= f, v.w *= f;
        }
        *(uint2 *)&sq[r][x] = make_uint2(mma_pack_bf16(v.x, v.y), mma_pack_bf16(v.z, v.w));
    }
}

/* −inf on the scores of keys a row does not see (past nk; after the row, when causal). */
template <int MT, int BN>
static __device__ __forceinline__ void fl_mask(float (*S)[BN / 8][4], const cu_attn_geom &g,
                                               int wp0, int j0) {
    const int lane = threadIdx.x & 31, g8 = lane >> 2, t4 = lane & 3;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nc = 0; nc < BN / 8; nc++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = wp0 + mt * 16 + g8 + 8 * (e >> 1);
                const int j = j0 + nc * 8 + 2 * t4 + (e & 1);
                if (j >= g.nk || (g.causal && j > i)) S[mt][nc][e] = -INFINITY;
            }
}

/* Each row's maximum moves to the tile's: al receives the rescale factor of what came before,
 * mb the new maximum in base 2 (0 for a row that has seen only masked keys, whose weights stay
 * 0). Returns whether a row of the warp moved its maximum (else every factor is 1). */
template <int MT, int BN>
static __device__ __forceinline__ bool fl_new_max(const float (*S)[BN / 8][4], float (*m)[2],
                                                  float (*al)[2], float (*mb)[2]) {
    bool moved = false;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            float mx = m[mt][hr];
#pragma unroll
            for (int nc = 0; nc < BN / 8; nc++)
                mx = fmaxf(mx, fmaxf(S[mt][nc][2 * hr], S[mt][nc][2 * hr + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            mb[mt][hr] = (mx == -INFINITY ? 0.0f : mx) * FL_L2E;
            al[mt][hr] = mma_ex2(m[mt][hr] * FL_L2E - mb[mt][hr]);
            moved |= mx != m[mt][hr];
            m[mt][hr] = mx;
        }
    return __any_sync(0xffffffffu, moved);
}

/* Online softmax on the tile (docs/ATTENTION_MATH.md, "Online softmax"), in base 2: the scores
 * become weights in place, m and l (this thread's share of the row sum; not with SUM false,
 * where the caller sums the weights itself) move on, al receives each row's rescale factor of
 * the output. Returns whether a row of the warp moved its maximum (else every factor is 1). */
template <int MT, int BN, bool SUM = true>
static __device__ __forceinline__ bool fl_weights(float (*S)[BN / 8][4], float (*m)[2],
                                                  float (*l)[2], float (*al)[2]) {
    float mb[MT][2];
    const bool moved = fl_new_max<MT, BN>(S, m, al, mb);
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            float sum = 0.0f;
#pragma unroll
            for (int nc = 0; nc < BN / 8; nc++)
#pragma unroll
                for (int e = 2 * hr; e < 2 * hr + 2; e++) {
                    const float p = mma_ex2(fmaf(S[mt][nc][e], FL_L2E, -mb[mt][hr]));
                    S[mt][nc][e] = p;
                    if (SUM) sum += p;
                }
            if (SUM) l[mt][hr] = l[mt][hr] * al[mt][hr] + sum;
        }
    return moved;
}

template <int D, int MT>
static __device__ __forceinline__ void fl_rescale(float (*O)[D / 8][4], const float (*al)[2]) {
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int dc = 0; dc < D / 8; dc++)
#pragma unroll
            for (int e = 0; e < 4; e++) O[mt][dc][e] *= al[mt][e >> 1];
}

/* The warp's rows' outputs O / l (0 for a row that sees no key; NaN stays NaN). */
template <int D, int MT>
static __device__ __forceinline__ void fl_store(const cu_attn_geom &g, const float (*O)[D / 8][4],
                                                float (*l)[2], int h, int r0, int wr0, int nr,
                                                bool quad = true) {
    const int lane = threadIdx.x & 31, g8 = lane >> 2, t4 = lane & 3;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            float sum = l[mt][hr]; /* quad: the four threads' shares, else the row's sum */
            if (quad) {
                sum += __shfl_xor_sync(0xffffffffu, sum, 1);
                sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            }
            const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
            const int r = wr0 + mt * 16 + g8 + 8 * hr; /* in the block */
            if (r >= nr) continue;
            float *o = g.out + ((size_t)(r0 + r) * g.H + h) * D + 2 * t4;
#pragma unroll
            for (int dc = 0; dc < D / 8; dc++)
                *(float2 *)(o + dc * 8) =
                    make_float2(O[mt][dc][2 * hr] * inv, O[mt][dc][2 * hr + 1] * inv);
        }
}

#endif
