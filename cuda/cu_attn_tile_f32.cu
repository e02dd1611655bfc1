/* cu_attn_tile_f32.cu — the fp32 tile kernel on CUDA cores: a block takes BQ consecutive query
 * rows of one head and walks their key tiles of BK keys, q', K and V staged in shared memory
 * (docs/ATTENTION_MATH.md, "The CUDA kernels"). This is the parity path (precision fp32) and
 * the fallback for head sizes the tensor-core kernel does not take.
 *
 * 256 threads as 16 × 16: thread (ty, tx) holds the scores of rows ty·RQ … ty·RQ+RQ−1 and keys
 * tx, tx+16, … of the tile, and the outputs of those rows at value columns tx, tx+16, …; the 16
 * threads of a row are one half-warp, so row reductions are four shuffles.
 *
 * Modes: CU_TILE_SOFTMAX — online softmax (running maximum and sum, the accumulator rescaled
 * when the maximum grows), output O/ℓ. CU_TILE_GATHER — entmax pass 1, key tiles from the
 * last to the first: running row maxima m, every key with (α−1)(s − m) > −1 at the time it is
 * seen appended to the row's candidate list, and the block's largest score of each tile.
 * CU_TILE_OUT — entmax pass 2 (after cu_attn_solve.cu found τ): p = [(α−1)(s − m) − τ]_+^e
 * over the tiles that can hold support, o = Σ p v (divided by Σ p for α other than 1.5 and 2).
 * Keys with weight exactly 0 add nothing, so a NaN value row never reaches a query that does
 * not attend to it.
 */
#include "cu_attn_internal.h"

template <int DP, int BQ, int BK, int MODE>
__global__ void __launch_bounds__(256) tile_f32(const cu_attn_geom g, const cu_ent_ws w) {
    constexpr int RQ = BQ / 16, RK = BK / 16, RC = DP / 16, KP = DP + 1, PP = BK + 1;
    extern __shared__ float sm[];
    float *Qs = sm, *Ks = Qs + BQ * DP, *Vs = Ks + BK * KP, *Ps = Vs + BK * DP;
    __shared__ float red[BQ];
    __shared__ int cnt_s[BQ];
    __shared__ unsigned long long st_acc[5];
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int h = blockIdx.y, kvh = h / g.group, d = g.d, dv = g.dv;
    const int qb = gridDim.x - 1 - blockIdx.x, r0 = qb * BQ; /* longest rows first */
    const int nr = min(BQ, g.nq - r0);
    const float slope = g.slopes ? g.slopes[h] : 0.0f, am1 = g.alpha - 1.0f;
    for (int idx = tid; idx < BQ * DP; idx += 256) {
        const int r = idx / DP, x = idx % DP;
        Qs[idx] = r < nr && x < d ? g.q[((size_t)(r0 + r) * g.H + h) * d + x] *
                                        cu_attn_qfactor(g, r0 + r, h)
                                  : 0.0f;
    }
    if (tid < 5) st_acc[tid] = 0;
    if (tid < BQ) cnt_s[tid] = 0;
    int lo[RQ], hi[RQ], sup[RQ], stiles[RQ], last64[RQ], bad[RQ];
    float m[RQ], ell[RQ], tau[RQ], o[RQ][RC];
    for (int a = 0; a < RQ; a++) {
        const int r = ty * RQ + a;
        lo[a] = hi[a] = 0;
        if (r < nr) cu_attn_visible(g, g.q0 + r0 + r, &lo[a], &hi[a]);
        m[a] = -INFINITY;
        ell[a] = tau[a] = 0.0f;
        sup[a] = stiles[a] = bad[a] = 0;
        last64[a] = -1;
        for (int c = 0; c < RC; c++) o[a][c] = 0.0f;
    }
    int blo, bhi, tmp;
    cu_attn_visible(g, g.q0 + r0, &blo, &tmp);
    cu_attn_visible(g, g.q0 + r0 + nr - 1, &tmp, &bhi);
    __syncthreads();
    float thrmin = INFINITY;
    if (MODE == CU_TILE_OUT) {
        for (int r = tid; r < BQ; r += 256) red[r] = INFINITY;
        __syncthreads();
        for (int a = 0; a < RQ; a++) {
            const int r = ty * RQ + a;
            if (r >= nr) continue;
            m[a] = w.m[(size_t)h * g.nq + r0 + r];
            tau[a] = w.tau[(size_t)h * g.nq + r0 + r];
            bad[a] = !(isfinite(m[a]) && isfinite(tau[a]));
            /* the raw score a key must exceed to carry weight */
            if (tx == 0 && !bad[a] && hi[a] > lo[a]) red[r] = m[a] + tau[a] / am1;
        }
        __syncthreads();
        for (int r = 0; r < BQ; r++) thrmin = fminf(thrmin, red[r]);
        /* a tile is skipped only below every live row's threshold, with a margin for rounding */
        thrmin -= 1e-4f * (1.0f + fabsf(thrmin));
    }
    const int t_first = blo / BK, t_last = bhi > blo ? (bhi - 1) / BK : t_first - 1;
    for (int it = 0; it <= t_last - t_first; it++) {
        const int t = MODE == CU_TILE_GATHER ? t_last - it : t_first + it, j0 = t * BK;
        if (MODE == CU_TILE_OUT && !(w.tmax[((size_t)h * w.nqb + qb) * w.nkt + t] >= thrmin))
            continue; /* no key of the tile can reach any row's threshold */
        __syncthreads();
        for (int idx = tid; idx < BK * DP; idx += 256) {
            const int j = idx / DP, x = idx % DP, key = j0 + j;
            Ks[j * KP + x] = key < g.nk && x < d
                                 ? cu_attn_ld(g.k, ((size_t)key * g.Hk + kvh) * d + x, g.kv_bf16)
                                 : 0.0f;
            if (MODE != CU_TILE_GATHER)
                Vs[idx] = key < g.nk && x < dv
                              ? cu_attn_ld(g.v, ((size_t)key * g.Hk + kvh) * dv + x, g.kv_bf16)
                              : 0.0f;
        }
        __syncthreads();
        float s[RQ][RK];
        for (int a = 0; a < RQ; a++)
            for (int b = 0; b < RK; b++) s[a][b] = 0.0f;
#pragma unroll 4
        for (int x = 0; x < DP; x++) {
            float qv[RQ], kv[RK];
            for (int a = 0; a < RQ; a++) qv[a] = Qs[(ty * RQ + a) * DP + x];
            for (int b = 0; b < RK; b++) kv[b] = Ks[(tx + 16 * b) * KP + x];
            for (int a = 0; a < RQ; a++)
                for (int b = 0; b < RK; b++) s[a][b] += qv[a] * kv[b];
        }
        for (int a = 0; a < RQ; a++) {
            const int r = ty * RQ + a, i = g.q0 + r0 + r;
            float mx = -INFINITY, psum = 0.0f;
            int anyp = 0, badt = 0;
            for (int b = 0; b < RK; b++) {
                const int j = j0 + tx + 16 * b;
                const bool vis = r < nr && j >= lo[a] && j < hi[a];
                s[a][b] = vis ? cu_attn_finish(g, s[a][b], slope, i, j) : -INFINITY;
                mx = fmaxf(mx, s[a][b]);
                badt |= isnan(s[a][b]) || s[a][b] == INFINITY;
            }
            for (int off = 8; off > 0; off >>= 1) {
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
                badt |= __shfl_xor_sync(0xffffffffu, badt, off);
            }
            if (MODE == CU_TILE_SOFTMAX) {
                const float mnew = fmaxf(m[a], mx), msafe = mnew == -INFINITY ? 0.0f : mnew;
                const float al = expf(m[a] - msafe);
                for (int b = 0; b < RK; b++) {
                    const float p = expf(s[a][b] - msafe);
                    s[a][b] = p;
                    psum += p;
                    sup[a] += p != 0.0f;
                }
                for (int off = 8; off > 0; off >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, off);
                ell[a] = ell[a] * al + psum;
                m[a] = mnew;
                if (al != 1.0f)
                    for (int c = 0; c < RC; c++) o[a][c] *= al;
            } else if (MODE == CU_TILE_GATHER) {
                m[a] = fmaxf(m[a], mx);
                bad[a] |= badt;
                for (int b = 0; b < RK; b++)
                    if (am1 * (s[a][b] - m[a]) > -1.0f) {
                        const int slot = atomicAdd(&cnt_s[r], 1);
                        if (slot < w.cap) w.cand[((size_t)h * g.nq + r0 + r) * w.cap + slot] = s[a][b];
                    }
                if (tx == 0) red[r] = mx;
            } else {
                for (int b = 0; b < RK; b++) {
                    const float dd = am1 * (s[a][b] - m[a]) - tau[a];
                    float p = 0.0f;
                    if (!bad[a] && dd > 0.0f)
                        p = g.alpha == 1.5f ? dd * dd : g.alpha == 2.0f ? dd : powf(dd, 1.0f / am1);
                    s[a][b] = p;
                    psum += p;
                    sup[a] += p > 0.0f;
                    anyp |= p > 0.0f;
                }
                for (int off = 8; off > 0; off >>= 1) {
                    psum += __shfl_xor_sync(0xffffffffu, psum, off);
                    anyp |= __shfl_xor_sync(0xffffffffu, anyp, off);
                }
                ell[a] += psum;
                if (anyp && j0 / CU_ATTN_STAT_TK != last64[a]) {
                    stiles[a]++;
                    last64[a] = j0 / CU_ATTN_STAT_TK;
                }
            }
            if (MODE != CU_TILE_GATHER)
                for (int b = 0; b < RK; b++) Ps[r * PP + tx + 16 * b] = s[a][b];
        }
        __syncthreads();
        if constexpr (MODE == CU_TILE_GATHER) {
            if (tid < 32) {
                float v = -INFINITY;
                for (int r = tid; r < BQ; r += 32) v = fmaxf(v, red[r]);
                for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
                if (tid == 0) w.tmax[((size_t)h * w.nqb + qb) * w.nkt + t] = v;
            }
        } else {
            for (int j = 0; j < BK; j++) {
                float pv[RQ];
                for (int a = 0; a < RQ; a++) pv[a] = Ps[(ty * RQ + a) * PP + j];
                for (int c = 0; c < RC; c++) {
                    const float v = Vs[j * DP + tx + 16 * c];
                    for (int a = 0; a < RQ; a++) o[a][c] += pv[a] != 0.0f ? pv[a] * v : 0.0f;
                }
            }
        }
    }
    __syncthreads();
    for (int a = 0; a < RQ; a++) /* every lane of the warp takes part in the shuffles */
        for (int off = 8; off > 0; off >>= 1) sup[a] += __shfl_xor_sync(0xffffffffu, sup[a], off);
    for (int a = 0; a < RQ; a++) {
        const int r = ty * RQ + a;
        if (r >= nr) continue;
        if (MODE == CU_TILE_GATHER) {
            if (tx == 0) {
                w.m[(size_t)h * g.nq + r0 + r] = bad[a] ? NAN : m[a];
                w.cnt[(size_t)h * g.nq + r0 + r] = cnt_s[r];
            }
            continue;
        }
        float inv = ell[a] == 0.0f ? 0.0f : 1.0f / ell[a];
        if (MODE == CU_TILE_OUT) {
            const bool exact = g.alpha == 1.5f || g.alpha == 2.0f;
            inv = hi[a] == lo[a] ? 0.0f : bad[a] ? NAN : exact ? 1.0f : inv;
        }
        for (int c = 0; c < RC; c++) {
            const int col = tx + 16 * c;
            if (col < dv) g.out[((size_t)(r0 + r) * g.H + h) * dv + col] = o[a][c] * inv;
        }
        if (g.stats && tx == 0) {
            const int vis = hi[a] - lo[a];
            const int vt = vis > 0 ? (hi[a] - 1) / CU_ATTN_STAT_TK - lo[a] / CU_ATTN_STAT_TK + 1 : 0;
            atomicAdd(&st_acc[0], 1ull);
            atomicAdd(&st_acc[2], (unsigned long long)vis);
            if (MODE == CU_TILE_OUT && bad[a] && vis > 0) {
                atomicAdd(&st_acc[1], 1ull);
            } else {
                atomicAdd(&st_acc[1], (unsigned long long)sup[a]);
                if (MODE == CU_TILE_OUT) {
                    atomicAdd(&st_acc[3], (unsigned long long)vt);
                    atomicAdd(&st_acc[4], (unsigned long long)(vt - stiles[a]));
                }
            }
        }
    }
    if (MODE != CU_TILE_GATHER && g.stats) {
        __syncthreads();
        if (tid == 0) {
            atomicAdd(&g.stats[h].rows, st_acc[0]);
            atomicAdd(&g.stats[h].support, st_acc[1]);
            atomicAdd(&g.stats[h].visible, st_acc[2]);
            atomicAdd(&g.stats[h].tiles, st_acc[3]);
            atomicAdd(&g.stats[h].tiles_skipped, st_acc[4]);
        }
    }
}

static int padded_dim(const cu_attn_geom *g) {
    const int d = g->d > g->dv ? g->d : g->dv;
    return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256;
}

int cu_attn_f32_block_q(const cu_attn_geom *g) { return padded_dim(g) <= 128 ? 64 : 32; }
int cu_attn_f32_block_k(const cu_attn_geom *g) { return cu_attn_f32_block_q(g); }

template <int DP, int BQ, int BK, int MODE>
static cudaError_t launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    const size_t smem = sizeof(float) * ((size_t)BQ * DP + (size_t)BK * (DP + 1) +
                                         (size_t)BK * DP + (size_t)BQ * (BK + 1));
    cudaError_t e = cudaFuncSetAttribute(tile_f32<DP, BQ, BK, MODE>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    const dim3 grid((unsigned)((g->nq + BQ - 1) / BQ), (unsigned)g->H);
    cu_ent_ws none;
    memset(&none, 0, sizeof none);
    tile_f32<DP, BQ, BK, MODE><<<grid, 256, smem, st>>>(*g, w ? *w : none);
    return cudaGetLastError();
}

template <int MODE>
static cudaError_t launch_mode(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    switch (padded_dim(g)) {
    case 32: return launch<32, 64, 64, MODE>(g, w, st);
    case 64: return launch<64, 64, 64, MODE>(g, w, st);
    case 128: return launch<128, 64, 64, MODE>(g, w, st);
    default: return launch<256, 32, 32, MODE>(g, w, st);
    }
}

cudaError_t cu_attn_f32_launch(const cu_attn_geom *g, const cu_ent_ws *w, int mode,
                               cudaStream_t st) {
    if (mode == CU_TILE_SOFTMAX) return launch_mode<CU_TILE_SOFTMAX>(g, w, st);
    if (mode == CU_TILE_GATHER) return launch_mode<CU_TILE_GATHER>(g, w, st);
    return launch_mode<CU_TILE_OUT>(g, w, st);
}
