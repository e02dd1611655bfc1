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

/* What one thread knows of its RQ rows (ty·RQ … ty·RQ+RQ−1 of the block). */
template <int RQ, int RC> struct f32_rows {
    int lo[RQ], hi[RQ], sup[RQ], stiles[RQ], last64[RQ], bad[RQ];
    float m[RQ], ell[RQ], tau[RQ], o[RQ][RC];
};

/* The block: its head, rows and the shared pieces that are not tiles. */
struct f32_block {
    int h, kvh, qb, r0, nr, tx, ty;
    float slope;
    float *red;                   /* [64] per-row scratch */
    float *rm;                    /* [64] running row maxima (gather) */
    int *cnt;                     /* [64] candidates per row (gather) */
    unsigned long long *st;       /* [5] the block's statistics */
};

/* q' into Qs, the rows' ranges; for the output pass each row's m, τ and the block's lowest
 * threshold (a tile whose largest score is below it holds no support of any row). */
template <int DP, int BQ, int RQ, int RC, int MODE>
__device__ float f32_setup(const cu_attn_geom &g, const cu_ent_ws &w, const f32_block &b,
                           float *Qs, f32_rows<RQ, RC> &rs) {
    const int tid = threadIdx.x;
    for (int idx = tid; idx < BQ * DP; idx += 256) {
        const int r = idx / DP, x = idx % DP;
        Qs[idx] = r < b.nr && x < g.d ? g.q[((size_t)(b.r0 + r) * g.H + b.h) * g.d + x] *
                                            cu_attn_qfactor(g, b.r0 + r, b.h)
                                      : 0.0f;
    }
    if (tid < 5) b.st[tid] = 0;
    if (tid < BQ) b.cnt[tid] = 0, b.red[tid] = INFINITY;
#pragma unroll
    for (int a = 0; a < RQ; a++) {
        const int r = b.ty * RQ + a;
        rs.lo[a] = rs.hi[a] = 0;
        if (r < b.nr) cu_attn_visible(g, g.q0 + b.r0 + r, &rs.lo[a], &rs.hi[a]);
        rs.m[a] = -INFINITY;
        rs.ell[a] = rs.tau[a] = 0.0f;
        rs.sup[a] = rs.stiles[a] = rs.bad[a] = 0;
        rs.last64[a] = -1;
#pragma unroll
        for (int c = 0; c < RC; c++) rs.o[a][c] = 0.0f;
    }
    __syncthreads();
    if (MODE != CU_TILE_OUT) return INFINITY;
    const float am1 = g.alpha - 1.0f;
#pragma unroll
    for (int a = 0; a < RQ; a++) {
        const int r = b.ty * RQ + a;
        if (r >= b.nr) continue;
        rs.m[a] = w.m[(size_t)b.h * g.nq + b.r0 + r];
        rs.tau[a] = w.tau[(size_t)b.h * g.nq + b.r0 + r];
        rs.bad[a] = !(isfinite(rs.m[a]) && isfinite(rs.tau[a]));
        if (b.tx == 0 && !rs.bad[a] && rs.hi[a] > rs.lo[a]) b.red[r] = rs.m[a] + rs.tau[a] / am1;
    }
    __syncthreads();
    float thr = INFINITY;
    for (int r = 0; r < BQ; r++) thr = fminf(thr, b.red[r]);
    return thr - 1e-4f * (1.0f + fabsf(thr)); /* a margin for rounding */
}

/* Key tile [j0, j0 + BK) of this kv head into Ks (rows padded by one) and, unless gathering,
 * Vs; keys past nk and dims past d are 0. */
template <int DP, int BK, int MODE>
__device__ void f32_load(const cu_attn_geom &g, const f32_block &b, float *Ks, float *Vs, int j0) {
    for (int idx = threadIdx.x; idx < BK * DP; idx += 256) {
        const int j = idx / DP, x = idx % DP, key = j0 + j;
        const size_t kat = ((size_t)key * g.Hk + b.kvh) * g.d + x;
        Ks[j * (DP + 1) + x] = key < g.nk && x < g.d ? cu_attn_ld(g.k, kat, g.kv_bf16) : 0.0f;
        if (MODE != CU_TILE_GATHER)
            Vs[idx] = key < g.nk && x < g.dv
                          ? cu_attn_ld(g.v, ((size_t)key * g.Hk + b.kvh) * g.dv + x, g.kv_bf16)
                          : 0.0f;
    }
}

/* s[a][b] = score of row ty·RQ+a and key j0+tx+16b (soft cap, ALiBi), −inf where not seen. */
template <int DP, int RQ, int RK, int RC>
__device__ void f32_scores(const cu_attn_geom &g, const f32_block &b, const float *Qs,
                           const float *Ks, const f32_rows<RQ, RC> &rs, int j0, float (*s)[RK]) {
#pragma unroll
    for (int a = 0; a < RQ; a++)
#pragma unroll
        for (int k = 0; k < RK; k++) s[a][k] = 0.0f;
#pragma unroll 4
    for (int x = 0; x < DP; x++) {
        float qv[RQ], kv[RK];
#pragma unroll
        for (int a = 0; a < RQ; a++) qv[a] = Qs[(b.ty * RQ + a) * DP + x];
#pragma unroll
        for (int k = 0; k < RK; k++) kv[k] = Ks[(b.tx + 16 * k) * (DP + 1) + x];
#pragma unroll
        for (int a = 0; a < RQ; a++)
#pragma unroll
            for (int k = 0; k < RK; k++) s[a][k] += qv[a] * kv[k];
    }
#pragma unroll
    for (int a = 0; a < RQ; a++) {
        const int r = b.ty * RQ + a, i = g.q0 + b.r0 + r;
#pragma unroll
        for (int k = 0; k < RK; k++) {
            const int j = j0 + b.tx + 16 * k;
            const bool vis = r < b.nr && j >= rs.lo[a] && j < rs.hi[a];
            s[a][k] = vis ? cu_attn_finish(g, s[a][k], b.slope, i, j) : -INFINITY;
        }
    }
}

__device__ __forceinline__ float half_max(float v) {
    for (int off = 8; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}
__device__ __forceinline__ float half_sum(float v) {
    for (int off = 8; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}
__device__ __forceinline__ int half_or(int v) {
    for (int off = 8; off > 0; off >>= 1) v |= __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

/* Row a's step on the tile, the scores in sa turned into weights in place (softmax, output
 * pass) or into candidates (gather). */
template <int RQ, int RK, int RC, int MODE>
__device__ void f32_row_step(const cu_attn_geom &g, const cu_ent_ws &w, const f32_block &b,
                             f32_rows<RQ, RC> &rs, int a, float *sa, int j0) {
    const int r = b.ty * RQ + a;
    const float am1 = g.alpha - 1.0f;
    float mx = -INFINITY, psum = 0.0f;
    int anyp = 0, badt = 0;
#pragma unroll
    for (int k = 0; k < RK; k++) mx = fmaxf(mx, sa[k]), badt |= isnan(sa[k]) || sa[k] == INFINITY;
    mx = half_max(mx);
    if (MODE == CU_TILE_SOFTMAX) {
        const float mnew = fmaxf(rs.m[a], mx), msafe = mnew == -INFINITY ? 0.0f : mnew;
        const float al = expf(rs.m[a] - msafe);
#pragma unroll
        for (int k = 0; k < RK; k++) {
            sa[k] = expf(sa[k] - msafe);
            psum += sa[k];
            rs.sup[a] += sa[k] != 0.0f;
        }
        rs.ell[a] = rs.ell[a] * al + half_sum(psum);
        rs.m[a] = mnew;
        if (al != 1.0f)
#pragma unroll
            for (int c = 0; c < RC; c++) rs.o[a][c] *= al;
    } else if (MODE == CU_TILE_GATHER) {
        rs.m[a] = fmaxf(rs.m[a], mx);
        rs.bad[a] |= half_or(badt);
#pragma unroll
        for (int k = 0; k < RK; k++)
            if (am1 * (sa[k] - rs.m[a]) > -1.0f) {
                const int slot = atomicAdd(&b.cnt[r], 1);
                if (slot < w.cap) w.cand[((size_t)b.h * g.nq + b.r0 + r) * w.cap + slot] = sa[k];
            }
        if (b.tx == 0) b.red[r] = mx, b.rm[r] = r < b.nr ? rs.m[a] : INFINITY;
    } else {
#pragma unroll
        for (int k = 0; k < RK; k++) {
            const float dd = am1 * (sa[k] - rs.m[a]) - rs.tau[a];
            float p = 0.0f;
            if (!rs.bad[a] && dd > 0.0f)
                p = g.alpha == 1.5f ? dd * dd : g.alpha == 2.0f ? dd : powf(dd, 1.0f / am1);
            sa[k] = p;
            psum += p;
            rs.sup[a] += p > 0.0f;
            anyp |= p > 0.0f;
        }
        rs.ell[a] += half_sum(psum);
        if (half_or(anyp) && j0 / CU_ATTN_STAT_TK != rs.last64[a]) {
            rs.stiles[a]++;
            rs.last64[a] = j0 / CU_ATTN_STAT_TK;
        }
    }
}

/* O += P·V over the tile; a weight of exactly 0 adds nothing (not even 0·NaN). */
template <int DP, int BK, int RQ, int RC>
__device__ void f32_pv(const f32_block &b, const float *Ps, const float *Vs, f32_rows<RQ, RC> &rs) {
    for (int j = 0; j < BK; j++) {
        float pv[RQ];
#pragma unroll
        for (int a = 0; a < RQ; a++) pv[a] = Ps[(b.ty * RQ + a) * (BK + 1) + j];
#pragma unroll
        for (int c = 0; c < RC; c++) {
            const float v = Vs[j * DP + b.tx + 16 * c];
#pragma unroll
            for (int a = 0; a < RQ; a++) rs.o[a][c] += pv[a] != 0.0f ? pv[a] * v : 0.0f;
        }
    }
}

/* The rows' results: outputs and statistics, or (gather) maxima and candidate counts. */
template <int RQ, int RC, int MODE>
__device__ void f32_finish(const cu_attn_geom &g, const cu_ent_ws &w, const f32_block &b,
                           f32_rows<RQ, RC> &rs) {
#pragma unroll
    for (int a = 0; a < RQ; a++) rs.sup[a] = (int)half_sum((float)rs.sup[a]);
#pragma unroll
    for (int a = 0; a < RQ; a++) {
        const int r = b.ty * RQ + a;
        const size_t item = (size_t)b.h * g.nq + b.r0 + r;
        if (r >= b.nr) continue;
        if (MODE == CU_TILE_GATHER) {
            if (b.tx == 0) w.m[item] = rs.bad[a] ? NAN : rs.m[a], w.cnt[item] = b.cnt[r];
            continue;
        }
        float inv = rs.ell[a] == 0.0f ? 0.0f : 1.0f / rs.ell[a];
        if (MODE == CU_TILE_OUT) {
            const bool exact = g.alpha == 1.5f || g.alpha == 2.0f;
            inv = rs.hi[a] == rs.lo[a] ? 0.0f : rs.bad[a] ? NAN : exact ? 1.0f : inv;
        }
#pragma unroll
        for (int c = 0; c < RC; c++) {
            const int col = b.tx + 16 * c;
            if (col < g.dv) g.out[((size_t)(b.r0 + r) * g.H + b.h) * g.dv + col] = rs.o[a][c] * inv;
        }
        if (!g.stats || b.tx != 0) continue;
        const int vis = rs.hi[a] - rs.lo[a];
        const int vt =
            vis > 0 ? (rs.hi[a] - 1) / CU_ATTN_STAT_TK - rs.lo[a] / CU_ATTN_STAT_TK + 1 : 0;
        const bool nanrow = MODE == CU_TILE_OUT && rs.bad[a] && vis > 0;
        atomicAdd(&b.st[0], 1ull);
        atomicAdd(&b.st[1], nanrow ? 1ull : (unsigned long long)rs.sup[a]);
        atomicAdd(&b.st[2], (unsigned long long)vis);
        if (MODE == CU_TILE_OUT && !nanrow) {
            atomicAdd(&b.st[3], (unsigned long long)vt);
            atomicAdd(&b.st[4], (unsigned long long)(vt - rs.stiles[a]));
        }
    }
    if (MODE == CU_TILE_GATHER || !g.stats) return;
    __syncthreads();
    if (threadIdx.x == 0)
        for (int k = 0; k < 5; k++) atomicAdd(&((unsigned long long *)&g.stats[b.h])[k], b.st[k]);
}

template <int DP, int BQ, int BK, int MODE>
__global__ void __launch_bounds__(256) tile_f32(const cu_attn_geom g, const cu_ent_ws w) {
    constexpr int RQ = BQ / 16, RK = BK / 16, RC = DP / 16;
    extern __shared__ float sm[];
    float *Qs = sm, *Ks = Qs + BQ * DP, *Vs = Ks + BK * (DP + 1), *Ps = Vs + BK * DP;
    __shared__ float red[64], rm[64], mmin;
    __shared__ int cnt[64], qn_bits;
    __shared__ unsigned long long st[5];
    f32_block b;
    b.h = blockIdx.y, b.kvh = b.h / g.group, b.tx = threadIdx.x & 15, b.ty = threadIdx.x >> 4;
    b.qb = gridDim.x - 1 - blockIdx.x, b.r0 = b.qb * BQ; /* longest rows first */
    b.nr = min(BQ, g.nq - b.r0);
    b.slope = g.slopes ? g.slopes[b.h] : 0.0f;
    b.red = red, b.rm = rm, b.cnt = cnt, b.st = st;
    if (threadIdx.x == 0) qn_bits = 0, mmin = -INFINITY;
    f32_rows<RQ, RC> rs;
    const float thrmin = f32_setup<DP, BQ, RQ, RC, MODE>(g, w, b, Qs, rs);
    const bool bound = MODE == CU_TILE_GATHER && w.knorm;
    if (bound) { /* the largest |q'| of the block, for the tile bounds */
        if (threadIdx.x < BQ) {
            float q2 = 0.0f;
            for (int x = 0; x < DP; x++) q2 += Qs[threadIdx.x * DP + x] * Qs[threadIdx.x * DP + x];
            atomicMax(&qn_bits, __float_as_int(sqrtf(q2) * (1.0f + 1e-3f)));
        }
        __syncthreads();
    }
    const float qn = __int_as_float(qn_bits);
    int blo, bhi, tmp;
    cu_attn_visible(g, g.q0 + b.r0, &blo, &tmp);
    cu_attn_visible(g, g.q0 + b.r0 + b.nr - 1, &tmp, &bhi);
    const int t_first = blo / BK, t_last = bhi > blo ? (bhi - 1) / BK : t_first - 1;
    for (int it = 0; it <= t_last - t_first; it++) {
        const int t = MODE == CU_TILE_GATHER ? t_last - it : t_first + it, j0 = t * BK;
        if (MODE == CU_TILE_OUT && !(w.tmax[((size_t)b.h * w.nqb + b.qb) * w.nkt + t] >= thrmin))
            continue; /* no key of the tile can reach any row's threshold */
        __syncthreads();
        if (bound) { /* no key of the tile can be a candidate of any row: not scored at all */
            const float u = cu_attn_tile_bound(g, w, b.kvh, qn, b.slope, t, g.q0 + b.r0,
                                               g.q0 + b.r0 + b.nr - 1);
            if (cu_attn_below_gap(g.alpha - 1.0f, u, mmin)) {
                if (threadIdx.x == 0) w.tmax[((size_t)b.h * w.nqb + b.qb) * w.nkt + t] = u;
                continue;
            }
        }
        f32_load<DP, BK, MODE>(g, b, Ks, Vs, j0);
        __syncthreads();
        float s[RQ][RK];
        f32_scores<DP, RQ, RK, RC>(g, b, Qs, Ks, rs, j0, s);
#pragma unroll
        for (int a = 0; a < RQ; a++) {
            f32_row_step<RQ, RK, RC, MODE>(g, w, b, rs, a, s[a], j0);
            if (MODE != CU_TILE_GATHER)
#pragma unroll
                for (int k = 0; k < RK; k++)
                    Ps[(b.ty * RQ + a) * (BK + 1) + b.tx + 16 * k] = s[a][k];
        }
        __syncthreads();
        if (MODE != CU_TILE_GATHER) {
            f32_pv<DP, BK, RQ, RC>(b, Ps, Vs, rs);
        } else if (threadIdx.x < 32) { /* the block's largest score, smallest running maximum */
            float v = -INFINITY, lo = INFINITY;
            for (int r = threadIdx.x; r < BQ; r += 32) v = fmaxf(v, red[r]), lo = fminf(lo, rm[r]);
            for (int off = 16; off > 0; off >>= 1) {
                v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
                lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, off));
            }
            if (threadIdx.x == 0) w.tmax[((size_t)b.h * w.nqb + b.qb) * w.nkt + t] = v, mmin = lo;
        }
    }
    __syncthreads();
    f32_finish<RQ, RC, MODE>(g, w, b, rs);
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
    static unsigned ready; /* devices whose attribute is set for this kernel */
    cudaError_t e = cu_attn_allow_smem((const void *)tile_f32<DP, BQ, BK, MODE>, smem, &ready);
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
