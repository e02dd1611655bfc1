/* cu_attn_ent_rows.cuh — the per-row work of the bf16 α-entmax list pipeline's two QK-only
 * passes, shared by their mma.sync kernel (cu_attn_ent_bf16.cu) and their Hopper kernel
 * (cu_attn_ent_tma.cu) so that both treat a warp's scores alike (docs/ATTENTION_MATH.md, "The
 * CUDA kernels"). The scores arrive in mma.sync's m16n8 accumulator layout, which is also the
 * layout of a warp's 16 rows of a wgmma result: S[mw][nc][e] is row g + 8·(e / 2) of m-tile mw
 * (g = lane / 4) and key j0 + 8·nc + 2·(lane % 4) + e % 2 of a 64-key tile.
 */
#ifndef SPARSA_CU_ATTN_ENT_ROWS_CUH
#define SPARSA_CU_ATTN_ENT_ROWS_CUH

#include "cu_attn_internal.h"

#define EBK 64    /* keys per tile of the tile-maximum table */
#define SKETCH 4  /* largest tile maxima a thread keeps per row */

/* What a thread knows of one of its rows (g or g+8 of one of its warp's m-tiles). */
struct erow {
    int r, lo, hi, bad, n; /* n: pass 2's list length so far (the same in the quad's lanes) */
    float m, thr, top[SKETCH];
};

/* max that keeps NaN (fmaxf drops it): a row with a NaN score is flagged. */
__device__ __forceinline__ float max_nan(float a, float b) {
    float d;
    asm("max.NaN.f32 %0, %1, %2;" : "=f"(d) : "f"(a), "f"(b));
    return d;
}

__device__ __forceinline__ float ent_quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

/* A row's state before its first tile: its range of keys (none past the block's nr rows) and,
 * in pass 2 (thr_src non-NULL), its listing threshold. */
__device__ __forceinline__ void erow_init(erow &q, int r, const cu_attn_geom &g, int r0, int nr,
                                          const float *thr_src) {
    q.r = r;
    q.lo = q.hi = 0;
    if (r < nr) cu_attn_visible(g, g.q0 + r0 + r, &q.lo, &q.hi);
    q.bad = q.n = 0, q.m = -INFINITY, q.thr = INFINITY;
#pragma unroll
    for (int k = 0; k < SKETCH; k++) q.top[k] = -INFINITY;
    if (thr_src && r < nr) q.thr = thr_src[r0 + r];
}

/* Soft cap and ALiBi on one m-tile's scores of the 64-key tile at j0 (query positions pos0 +
 * the rows' r). */
__device__ __forceinline__ void ent_finish(float (*S)[4], const cu_attn_geom &g, const erow *rw,
                                           int j0, int pos0, float slope) {
    const int t4 = threadIdx.x & 3;
#pragma unroll
    for (int nc = 0; nc < 8; nc++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            S[nc][e] = cu_attn_finish(g, S[nc][e], slope, pos0 + rw[e >> 1].r,
                                      j0 + nc * 8 + 2 * t4 + (e & 1));
}

/* −inf where a row does not see the key, on one m-tile's scores of the 64-key tile at j0. */
__device__ __forceinline__ void ent_mask(float (*S)[4], const erow *rw, int j0) {
    const int t4 = threadIdx.x & 3;
#pragma unroll
    for (int nc = 0; nc < 8; nc++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const erow &q = rw[e >> 1];
            const int j = j0 + nc * 8 + 2 * t4 + (e & 1);
            if (j < q.lo || j >= q.hi) S[nc][e] = -INFINITY;
        }
}

/* Both, on one m-tile's scores of the 64-key tile at j0; the masking only where a row does
 * not see every key of the tile. */
__device__ __forceinline__ void ent_finish_mask(float (*S)[4], const cu_attn_geom &g,
                                                const erow *rw, int j0, int pos0, float slope) {
    if (g.softcap > 0.0f || slope != 0.0f) ent_finish(S, g, rw, j0, pos0, slope);
    const erow &a = rw[0], &b = rw[1];
    if (j0 >= a.lo && j0 >= b.lo && j0 + EBK <= a.hi && j0 + EBK <= b.hi) return;
    ent_mask(S, rw, j0);
}

/* The same on a 128-key tile (the Hopper kernel's S[16][4], two 64-key halves); whether both
 * rows see all its keys is decided by two comparisons with the keys [in.x, in.y] where a tile
 * may start to be inside both rows' ranges (tile_inside, once per kernel). */
__device__ __forceinline__ int2 tile_inside(const erow *rw) {
    return make_int2(max(rw[0].lo, rw[1].lo), min(rw[0].hi, rw[1].hi) - 2 * EBK);
}
__device__ __forceinline__ void tile_finish_mask(float (*S)[4], const cu_attn_geom &g,
                                                 const erow *rw, int j0, int pos0, float slope,
                                                 int2 in) {
    if (g.softcap > 0.0f || slope != 0.0f) {
        ent_finish(S, g, rw, j0, pos0, slope);
        ent_finish(&S[8], g, rw, j0 + EBK, pos0, slope);
    }
    if (j0 >= in.x && j0 <= in.y) return;
    ent_mask(S, rw, j0);
    ent_mask(&S[8], rw, j0 + EBK);
}

/* A tile's largest score v of row q into its sorted sketch; with tile bounds, the row's
 * running maximum (over its quad) and the lowest of them, *lo (rows past nr left out). */
__device__ __forceinline__ void sketch_insert(erow &q, float v, int nr, bool bound, float *lo) {
#pragma unroll
    for (int k = 0; k < SKETCH; k++) {
        const float hi = fmaxf(q.top[k], v);
        v = fminf(q.top[k], v);
        q.top[k] = hi;
    }
    if (bound) { /* the running maxima only serve the tile bounds */
        q.m = fmaxf(q.m, ent_quad_max(q.top[0]));
        *lo = fminf(*lo, q.r < nr ? q.m : INFINITY);
    }
}

/* Pass 1 on the warp's scores of one tile: flags, the rows' sketches and running maxima;
 * returns the warp's largest score (NaN ignored) and its lowest running row maximum in *wlo
 * (WARP false: the thread's own, for the caller to reduce over the warp). */
template <int MW, bool WARP = true>
__device__ float step_max(const float (*S)[8][4], erow (*rw)[2], int nr, bool bound, float *wlo) {
    float wm = -INFINITY, lo = INFINITY;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            erow &q = rw[mw][hr];
            float tm = -INFINITY;
#pragma unroll
            for (int nc = 0; nc < 8; nc++)
                tm = max_nan(tm, max_nan(S[mw][nc][2 * hr], S[mw][nc][2 * hr + 1]));
            q.bad |= isnan(tm) || tm == INFINITY;
            float v = isnan(tm) ? -INFINITY : tm;
            wm = fmaxf(wm, v);
            sketch_insert(q, v, nr, bound, &lo);
        }
    for (int o = 16; o > 0 && WARP; o >>= 1) {
        wm = fmaxf(wm, __shfl_xor_sync(0xffffffffu, wm, o));
        if (bound) lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, o));
    }
    *wlo = lo;
    return wm;
}

/* A row's slots in its list for the c keys a thread of its quad appends: the quad's prefix sum
 * gives this thread's first slot (after the *n already listed), and *n grows by the quad's
 * total (the same in the quad's four lanes). */
__device__ __forceinline__ int quad_slots(int c, int *n) {
    const int t4 = threadIdx.x & 3;
    int incl = c, v = __shfl_up_sync(0xffffffffu, incl, 1, 4);
    if (t4 >= 1) incl += v;
    v = __shfl_up_sync(0xffffffffu, incl, 2, 4);
    if (t4 >= 2) incl += v;
    const int total = __shfl_sync(0xffffffffu, incl, 3, 4), slot = *n + incl - c;
    *n += total;
    return slot;
}

/* Pass 2 on the warp's scores of one tile: the key of every score above its row's threshold
 * appended to the row's list (a row belongs to one quad, which keeps its length in registers;
 * the output step forms the listed keys' scores again, so only keys are written). A thread
 * marks its keys above the threshold in a mask (no branch per score), the quad's prefix sum of
 * the masks' counts gives each thread its slots, and it writes one key per set bit; row halves
 * without a listed key in the warp are skipped at once. */
template <int MW>
__device__ void step_pick(const float (*S)[8][4], erow (*rw)[2], const cu_attn_geom &g,
                          const cu_ent_ws &w, int h, int r0, int j0) {
    const int t4 = threadIdx.x & 3;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            erow &q = rw[mw][hr];
            unsigned m = 0; /* bit 2·nc + e: key j0 + 8·nc + 2·t4 + e */
#pragma unroll
            for (int nc = 0; nc < 8; nc++)
#pragma unroll
                for (int e = 0; e < 2; e++)
                    m |= (unsigned)(S[mw][nc][2 * hr + e] > q.thr) << (2 * nc + e);
            if (!__any_sync(0xffffffffu, m != 0)) continue;
            int slot = quad_slots(__popc(m), &q.n);
            const size_t at = ((size_t)h * g.nq + r0 + q.r) * w.cap;
            for (; m && slot < w.cap; m &= m - 1, slot++) {
                const int b = __ffs(m) - 1;
                w.idx[at + slot] = j0 + (b >> 1) * 8 + 2 * t4 + (b & 1);
            }
        }
}

/* The Hopper kernel's passes work on a warp's 16 rows × 128 keys at once (S[16][4]: key
 * j0 + 8·nc + 2·(lane % 4) + e % 2 in S[nc][e]), with fewer ALU instructions per score than the
 * 64-key steps above (the ALU pipe, half as wide as the FMA pipe, bounds both passes). */

/* Pass 1 on a 128-key tile: each row's largest score goes into its sketch once per tile; the
 * maximum keeps NaN, so that one comparison flags a row with a NaN or +inf score (a flagged
 * row's sketch is never read). Returns the thread's largest score (NaN ignored) and, with
 * bounds, its lowest running row maximum in *wlo, as step_max. */
__device__ __forceinline__ float step_max_tile(const float (*S)[4], erow *rw, int nr, bool bound,
                                               float *wlo) {
    float wm = -INFINITY, lo = INFINITY;
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        erow &q = rw[hr];
        float a = max_nan(S[0][2 * hr], S[0][2 * hr + 1]);
        float c = max_nan(S[1][2 * hr], S[1][2 * hr + 1]);
#pragma unroll
        for (int nc = 2; nc < 16; nc += 2) { /* two chains, for the latency */
            a = max_nan(a, max_nan(S[nc][2 * hr], S[nc][2 * hr + 1]));
            c = max_nan(c, max_nan(S[nc + 1][2 * hr], S[nc + 1][2 * hr + 1]));
        }
        float v = max_nan(a, c);
        q.bad |= !(v < INFINITY);
        wm = fmaxf(wm, v);
        sketch_insert(q, v, nr, bound, &lo);
    }
    *wlo = lo;
    return wm;
}

/* The mask of a row's 32 scores of a 128-key tile above its threshold: bit 31 − (2·nc + e) for
 * S[nc][2·hr + e]. The sign of thr − s (an FMA-pipe subtraction, exact in sign: it is negative
 * exactly when s > thr, and NaN's is positive) is shifted in by a funnel shift, one ALU
 * instruction per score; two chains of 16, for the latency. */
__device__ __forceinline__ unsigned pick_mask_tile(const float (*S)[4], int hr, float thr) {
    unsigned a = 0, c = 0;
#pragma unroll
    for (int i = 0; i < 16; i++) {
        a = __funnelshift_l(__float_as_uint(thr - S[i >> 1][2 * hr + (i & 1)]), a, 1);
        c = __funnelshift_l(__float_as_uint(thr - S[8 + (i >> 1)][2 * hr + (i & 1)]), c, 1);
    }
    return a << 16 | c;
}

/* Pass 2 on a 128-key tile: as step_pick, one mask, prefix sum and set of writes per row and
 * tile; keys are written in increasing order. */
__device__ __forceinline__ void step_pick_tile(const float (*S)[4], erow *rw,
                                               const cu_attn_geom &g, const cu_ent_ws &w, int h,
                                               int r0, int j0) {
    const int t4 = threadIdx.x & 3;
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
        erow &q = rw[hr];
        unsigned m = pick_mask_tile(S, hr, q.thr);
        if (!__any_sync(0xffffffffu, m != 0)) continue;
        int slot = quad_slots(__popc(m), &q.n);
        const size_t at = ((size_t)h * g.nq + r0 + q.r) * w.cap;
        for (; m && slot < w.cap; slot++) {
            const int e = __clz(m); /* element 2·nc + e % 2 */
            m ^= 0x80000000u >> e;
            w.idx[at + slot] = j0 + (e >> 1) * 8 + 2 * t4 + (e & 1);
        }
    }
}

/* A row's listing threshold in the score frame from its sketched scores v[0 … 4·SKETCH) (−inf
 * where none), their maximum m and the bound dq of the error of its bf16 scores: the lower end
 * of a bisection for their τ on x = (α−1)(s − m), less 2·dq (the sketch's scores and a listed
 * key's may each be off by dq) and a margin for rounding (docs/ATTENTION_MATH.md, "The CUDA
 * kernels"). */
__device__ __forceinline__ float list_threshold(const float *v, float m, float dq, float alpha) {
    const float am1 = alpha - 1.0f, e = 1.0f / am1;
    float x[4 * SKETCH];
#pragma unroll
    for (int i = 0; i < 4 * SKETCH; i++) x[i] = am1 * (v[i] - m);
    float lo = -1.0f, hi = 0.0f; /* f(−1) ≥ 0 (the maximum alone), f(0) = −1 */
    for (int it = 0; it < 22; it++) {
        const float t = 0.5f * (lo + hi);
        float f = -1.0f;
#pragma unroll
        for (int i = 0; i < 4 * SKETCH; i++) {
            const float d = x[i] - t;
            if (d > 0.0f) f += alpha == 1.5f ? d * d : alpha == 2.0f ? d : powf(d, e);
        }
        if (f >= 0.0f) lo = t;
        else hi = t;
    }
    return m + (lo - 1e-4f) / am1 - 1e-6f * fabsf(m) - 2.0f * dq;
}

/* Pass 1's sketch of the warp's rows and their NaN/+inf flags into shared memory (top: a row
 * of 4·SKETCH + 1 floats per block row; bad: an int per block row). */
template <int MW>
__device__ __forceinline__ void sketch_store(const erow (*rw)[2], float (*top)[4 * SKETCH + 1],
                                             int *bad) {
    const int t4 = threadIdx.x & 3;
#pragma unroll
    for (int mw = 0; mw < MW; mw++)
#pragma unroll
        for (int hr = 0; hr < 2; hr++) {
            const erow &q = rw[mw][hr];
#pragma unroll
            for (int k = 0; k < SKETCH; k++) top[q.r][t4 * SKETCH + k] = q.top[k];
            int b = q.bad | __shfl_xor_sync(0xffffffffu, q.bad, 1);
            b |= __shfl_xor_sync(0xffffffffu, b, 2);
            if (t4 == 0) bad[q.r] = b;
        }
}

/* A row's factor of the bound on its scores' bf16 error (rows_finish) from the fp32 q' (v)
 * and q' rounded to bf16 (r) summed over its d columns: e2 = Σ (v − r)², q2 = Σ v². The
 * second term covers the rounding of the two d-term fp32 sums (the passes' and the output
 * step's, each off by at most d·2^−23·Σ |v_i k_i| ≤ d·2^−23·|v|·max|k|), all there is when
 * q' is exact in bf16 (e2 = 0). */
__device__ __forceinline__ float bf16_error_factor(float e2, float q2, int d) {
    return 1.01f * sqrtf(e2) + 2.4e-7f * (float)d * sqrtf(q2);
}

/* End of pass 1 for block rows tid, tid + nthr, … < nr: each row's maximum of its bf16
 * scores (NaN for a row with a NaN or +inf score, −inf for a row without keys) and listing
 * threshold (+inf for a row without keys), from the stored sketches, flags and error factors
 * (qe, bf16_error_factor). A bf16 score Σ r·k differs from the fp32 one Σ v·k by
 * |Σ (v − r)·k| ≤ |v − r|·max|k| (Cauchy–Schwarz; K is the same bf16 cache; at most
 * 2^−8·|v|·max|k|, typically 0.4 of it), plus the sums' rounding; kmax ≥ every |k| of the
 * block's tiles. */
__device__ __forceinline__ void rows_finish(const float (*top)[4 * SKETCH + 1], const int *bad,
                                            const float *qe, float kmax, const cu_attn_geom &g,
                                            const cu_ent_ws &w, int h, int r0, int nr, int tid,
                                            int nthr) {
    for (int r = tid; r < nr; r += nthr) {
        const size_t item = (size_t)h * g.nq + r0 + r;
        float m = -INFINITY;
        for (int k = 0; k < 4 * SKETCH; k++) m = fmaxf(m, top[r][k]);
        int lo, hi;
        cu_attn_visible(g, g.q0 + r0 + r, &lo, &hi);
        const float dq = qe[r] * kmax + 1e-6f;
        if (bad[r]) w.m[item] = NAN, w.tau[item] = NAN;
        else if (hi <= lo || m == -INFINITY) w.m[item] = -INFINITY, w.tau[item] = INFINITY;
        else w.m[item] = m, w.tau[item] = list_threshold(top[r], m, dq, g.alpha);
    }
}

#endif
