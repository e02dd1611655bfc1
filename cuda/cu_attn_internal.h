/* cu_attn_internal.h — what the CUDA attention files share (not a public header): one call's
 * geometry as the kernels see it, the visible-key rule, the score of one (query, key) pair,
 * the entmax workspace layout, and the launchers each file exports to cu_attn_forward.cu.
 *
 * The math is docs/ATTENTION_MATH.md's ("Scores", "Tiled attention", "The CUDA kernels"):
 *     s_ij = softcap(q'_i · k_j) + m_h·(j − i),   q'_i = q_i · (c_ih · scale) rounded once,
 * over the keys query i sees (causal: j ≤ i; before_query: j < i; window W: i − j < W).
 */
#ifndef SPARSA_CU_ATTN_INTERNAL_H
#define SPARSA_CU_ATTN_INTERNAL_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cu_attention.h"

/* Keys per tile of the statistics (the CPU's SP_ATTN_TK: a key tile starts at a multiple of
 * 64 of the absolute key index). */
#define CU_ATTN_STAT_TK 64

/* Which kernel family runs a call. */
enum { CU_NORM_SOFTMAX, CU_NORM_ENTMAX, CU_NORM_ADAPTIVE, CU_NORM_STICK, CU_NORM_TOPK };

/* One call, by value in every kernel's parameters. Positions are int: a call is refused
 * above 2^31 − 1 keys (cu_attention_supported). */
typedef struct cu_attn_geom {
    int H, Hk, group, d, dv;         /* heads, kv heads, heads per kv head, key/value dims */
    int causal, window, before_query;
    float scale, softcap, alpha;
    int norm;                        /* CU_NORM_* */
    int topk, topk_div2;
    int q0, nq, nk;                  /* query rows are positions q0 … q0+nq−1; keys 0 … nk−1 */
    int kv_bf16;                     /* the cache holds bf16 */
    const float *q, *qscale, *slopes;
    const void *k, *v;
    float *out;
    cu_attn_stats *stats;
} cu_attn_geom;

/* The α-entmax workspace of one call (cu_attn_forward.cu lays it out): per (head, row) the
 * running-then-final maximum, the threshold τ in the shifted frame, the candidate count and a
 * list of up to cap candidate scores; per (head, query block, key tile) the largest score of
 * the block in the tile; row scratch for rows whose candidates overflowed.
 * The bf16 list pipeline (cu_attn_ent_bf16.cu, cu_attn_sparse.cu) uses the same fields with
 * these meanings: tau holds the row's listing threshold in the score frame until the output
 * kernel replaces it by τ, the list holds key indices only (idx; cand is NULL), and a "query
 * block" of tmax is one warp's stripe of rows. */
typedef struct cu_ent_ws {
    float *m, *tau;                  /* [H][nq] */
    int *cnt; /* [H][nq], then the overflow count and list (bf16: then the long lists' too) */
    float *cand;                     /* [H][nq][cap] */
    int *idx;                        /* [H][nq][cap] key of each listed score (list pipeline) */
    float *tmax;                     /* [H][nqb][nkt] (nkt tiles of bk keys) */
    float *knorm;                    /* [Hk][nkt] bound of |k| per key tile, or NULL */
    float *scratch;                  /* [rows_grid][nk] */
    int cap, nqb, nkt, bq, bk, rows_grid;
} cu_ent_ws;

/* Lets kernel func use smem bytes of dynamic shared memory (a constant of the kernel), asked of
 * the driver once per device: ready is the caller's static word for that kernel, a bit per
 * device index (devices past 31 ask at every launch). */
static inline cudaError_t cu_attn_allow_smem(const void *func, size_t smem, unsigned *ready) {
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return e;
    const unsigned bit = dev < 32 ? 1u << dev : 0u;
    if (bit && (__atomic_load_n(ready, __ATOMIC_RELAXED) & bit)) return cudaSuccess;
    e = cudaFuncSetAttribute(func, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e == cudaSuccess) __atomic_fetch_or(ready, bit, __ATOMIC_RELAXED);
    return e;
}

/* Visible keys [lo, hi) of the query at absolute position i. */
__device__ __forceinline__ void cu_attn_visible(const cu_attn_geom &g, int i, int *lo, int *hi) {
    int h = g.nk;
    if (g.before_query) h = i < g.nk ? i : g.nk;
    else if (g.causal) h = i + 1 < g.nk ? i + 1 : g.nk;
    int l = 0;
    if (g.window > 0 && i + 1 > g.window) l = i + 1 - g.window;
    *lo = l;
    *hi = h > l ? h : l;
}

__device__ __forceinline__ float cu_attn_ld(const void *base, size_t idx, int bf16) {
    return bf16 ? __bfloat162float(((const __nv_bfloat16 *)base)[idx]) : ((const float *)base)[idx];
}

/* The factor q is multiplied by: c_ih · scale, rounded once as on the CPU. */
__device__ __forceinline__ float cu_attn_qfactor(const cu_attn_geom &g, int row, int h) {
    return (g.qscale ? g.qscale[(size_t)row * g.H + h] : 1.0f) * g.scale;
}

/* softcap and ALiBi on a raw dot product q'·k of query position i and key j. */
__device__ __forceinline__ float cu_attn_finish(const cu_attn_geom &g, float s, float slope, int i,
                                                int j) {
    if (g.softcap > 0.0f) s = g.softcap * tanhf(s / g.softcap);
    if (slope != 0.0f) s += slope * (float)(j - i);
    return s;
}

/* Scores of one query row over its visible keys [lo, hi) into s[0 … hi−lo), by a whole block
 * (q' staged in qs, d floats of shared memory). Ends with a __syncthreads. */
__device__ __forceinline__ void cu_attn_row_scores(const cu_attn_geom &g, int h, int row, int lo,
                                                   int hi, float *s, float *qs) {
    const int d = g.d, kvh = h / g.group, i = g.q0 + row;
    const float c = cu_attn_qfactor(g, row, h);
    for (int x = threadIdx.x; x < d; x += blockDim.x)
        qs[x] = g.q[((size_t)row * g.H + h) * d + x] * c;
    __syncthreads();
    const float slope = g.slopes ? g.slopes[h] : 0.0f;
    /* a thread per key: many independent loads in flight, q' broadcast from shared memory */
    for (int j = lo + (int)threadIdx.x; j < hi; j += blockDim.x) {
        const size_t kb = ((size_t)j * g.Hk + kvh) * d;
        float acc = 0.0f;
#pragma unroll 8
        for (int x = 0; x < d; x++) acc += qs[x] * cu_attn_ld(g.k, kb + x, g.kv_bf16);
        s[j - lo] = cu_attn_finish(g, acc, slope, i, j);
    }
    __syncthreads();
}

/* An upper bound of every score of query positions i0 … i1 over key tile t (keys t·bk …
 * min(nk, t·bk + bk) − 1), given qn ≥ every |q'|: |q'|·max|k| through the soft cap, plus the
 * largest ALiBi bias over the pairs (docs/ATTENTION_MATH.md#tiled-attention). */
__device__ __forceinline__ float cu_attn_tile_bound(const cu_attn_geom &g, const cu_ent_ws &w,
                                                   int kvh, float qn, float slope, int t, int i0,
                                                   int i1) {
    float u = qn * w.knorm[(size_t)kvh * w.nkt + t];
    if (g.softcap > 0.0f) u = g.softcap * tanhf(u / g.softcap);
    const int j0 = t * w.bk, jl = min(g.nk, j0 + w.bk) - 1;
    return u + (slope >= 0.0f ? slope * (float)(jl - i0) : slope * (float)(j0 - i1));
}

/* 1 if no key under the bound u can be an entmax candidate of a row whose running maximum is
 * at least mmin: (α−1)(u − mmin) ≤ −1, with a margin so that rounding never skips a tile
 * that holds a candidate. */
__device__ __forceinline__ bool cu_attn_below_gap(float am1, float u, float mmin) {
    return am1 * (u - mmin) < -1.0f - 1e-3f * (1.0f + am1 * (fabsf(mmin) + fabsf(u)));
}

/* The largest and the least of v over the full warp (every lane gets it; no NaN in v): one
 * warp-wide integer maximum or minimum (redux.sync) on the float's bits mapped to an int of the
 * same order — the negative ones' magnitude bits flipped, a map that is its own inverse —
 * instead of a butterfly of five shuffles. */
__device__ __forceinline__ int cu_ordered_bits(int b) { return b ^ ((b >> 31) & 0x7fffffff); }
__device__ __forceinline__ float cu_warp_max(float v) {
    return __int_as_float(
        cu_ordered_bits(__reduce_max_sync(0xffffffffu, cu_ordered_bits(__float_as_int(v)))));
}
__device__ __forceinline__ float cu_warp_min(float v) {
    return __int_as_float(
        cu_ordered_bits(__reduce_min_sync(0xffffffffu, cu_ordered_bits(__float_as_int(v)))));
}

/* Block-wide sum of a double (every thread gets it); red: 32 doubles of shared memory. */
__device__ __forceinline__ double cu_block_sum(double v, double *red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    double t = 0.0;
    for (int w = 0; w < nw; w++) t += red[w];
    return t;
}

__device__ __forceinline__ float cu_block_max(float v, float *red) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int w = 0; w < nw; w++) t = fmaxf(t, red[w]);
    return t;
}

/* cu_attn_forward.cu: the geometry of an op over rows q0 … q0+nq−1 and nk keys (pointers
 * unset); the entmax workspace of a call with query blocks of bq rows and key tiles of bk keys
 * carved out of base (base NULL: only its size, the return value); the three entmax steps. */
void cu_attn_make_geom(const sp_bk_attention *p, size_t q0, size_t nq, size_t nk,
                       cu_attn_geom *g);
size_t cu_attn_ent_layout(const cu_attn_geom *g, int bq, int bk, void *base, cu_ent_ws *w);
cudaError_t cu_attn_run_entmax(const cu_attn_geom *g, const cu_attn_call *c, int bf16);

/* ---- launchers (each file's entry, host side) ------------------------------------------ */

/* cu_attn_tile_f32.cu: the fp32 tile kernel (CUDA cores) for head and value dims ≤ 256.
 * mode: CU_TILE_SOFTMAX (online softmax, output), CU_TILE_GATHER (entmax pass 1: maxima,
 * candidates, tile maxima), CU_TILE_OUT (entmax pass 2: output over the support). */
enum { CU_TILE_SOFTMAX, CU_TILE_GATHER, CU_TILE_OUT };
int cu_attn_f32_block_q(const cu_attn_geom *g);   /* query rows per block (64 or 32) */
int cu_attn_f32_block_k(const cu_attn_geom *g);   /* keys per tile (64 or 32) */
cudaError_t cu_attn_f32_launch(const cu_attn_geom *g, const cu_ent_ws *w, int mode,
                               cudaStream_t st);

/* cu_attn_tile_bf16.cu: the generic bf16 tensor-core softmax kernel (mma.sync m16n8k16, fp32
 * accumulation) for head_dim = value_dim ∈ {64, 128} with a bf16 cache (cu_attn_bf16_ok). */
int cu_attn_bf16_ok(const cu_attn_geom *g);
cudaError_t cu_attn_bf16_softmax_launch(const cu_attn_geom *g, cudaStream_t st);

/* cu_attn_ent_bf16.cu: the bf16 list pipeline's two QK-only passes (precision bf16, bf16
 * cache, head_dim = value_dim ∈ {64, 128}). CU_LIST_MAX: the row maxima, the stripes' tile
 * maxima and each row's listing threshold; CU_LIST_PICK: the (score, key) lists of the keys
 * above it.
 * cu_attn_list_stripe: query rows per stripe (a warp's rows; tmax's "blocks"). */
enum { CU_LIST_MAX, CU_LIST_PICK };
int cu_attn_list_stripe(int head_dim);
cudaError_t cu_attn_list_pass_launch(const cu_attn_geom *g, const cu_ent_ws *w, int pass,
                                     cudaStream_t st);

/* cu_attn_sparse.cu: τ of every row from its list and o = Σ p v over the support only (a warp
 * per row); rows whose list overflowed are queued for cu_attn_overflow.cu. Statistics too. */
cudaError_t cu_attn_list_out_launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st);

/* cu_attn_overflow.cu: τ and the output of the rows cu_attn_list_out_launch queued because
 * their list overflowed the workspace, a block per row (runs after it on the same stream). */
cudaError_t cu_attn_list_overflow_launch(const cu_attn_geom *g, const cu_ent_ws *w,
                                         cudaStream_t st);

/* cu_attn_forward.cu: the list pipeline's workspace (base NULL: only its size) and, for the
 * benchmark, the pipeline of a bf16 call with each step timed (ms[0] pass 1, ms[1] pass 2,
 * ms[2] solve and output), the mean list length and the rows over the list's capacity. */
size_t cu_attn_list_layout(const cu_attn_geom *g, void *base, cu_ent_ws *w);
cudaError_t cu_attn_entmax_profile(const cu_attn_call *c, float ms[3], double *listed,
                                   long *overflow);

/* cu_attn_kv.cu: w->knorm from the cache (keys 0 … nk−1 in tiles of w->bk). */
cudaError_t cu_attn_knorm_launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st);

/* cu_attn_solve.cu: τ per (head, row) from the candidates (or, for overflowed rows, from the
 * row's scores recomputed into scratch). */
cudaError_t cu_attn_solve_launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st);

/* cu_attn_rows.cu: one block per (row, head) for adaptive softmax, stick-breaking, top-k. */
#define CU_ROWS_GRID 256
cudaError_t cu_attn_rows_launch(const cu_attn_geom *g, float *scratch, cudaStream_t st);

#endif
