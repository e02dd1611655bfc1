/* cu_attn_overflow.cu — the rows of the bf16 α-entmax list pipeline whose list overflowed the
 * workspace (nearly flat rows, or rows whose listing threshold is loose: supports and lists of
 * hundreds of keys; docs/ATTENTION_MATH.md, "The CUDA kernels"). A block per row:
 *
 *   1. the key tiles that can hold a listed key — those whose stripe maximum from pass 1
 *      (w.tmax, an upper bound of the row's bf16 scores there) reaches the row's listing
 *      threshold, the very test of pass 2 — are scored again in fp32 (q' unrounded, the bf16
 *      key widened: the scores of the warp path), packed tile by tile into scratch; the key of
 *      largest fp32 score is in the support, so its tile is among them and their maximum is
 *      the row's;
 *   2. the candidates x = (α−1)(s − m) > −1 are packed in key order, τ is solved over them by
 *      the block solver, and the keys of weight > 0 are packed again;
 *   3. o = Σ p v over that support: each warp sums every eighth support key's value row (four
 *      rows in flight), the warps' sums are added in a fixed order.
 *
 * Every packing is an ordered block-wide scan, so the output's sums do not depend on
 * scheduling. Scratch per block: the scores (then x, then p) and their keys, 64 per visible
 * tile.
 */
#include "cu_attn_list.cuh"
#include "cu_attn_solver.cuh"

#define OVF_THREADS 256
#define OVF_WARPS (OVF_THREADS / 32)
#define OVF_TK 64 /* keys per tile of w.tmax (two per lane) */

struct ovf_smem {
    float qv[128];         /* q' of the row (fp32) */
    int tiles[OVF_THREADS]; /* this round's kept tiles */
    int wc[OVF_WARPS];     /* per-warp counts of a scan */
    double red[32];
    float redf[32];
    float part[OVF_WARPS][128]; /* per-warp output sums */
};

/* The block-wide exclusive rank of a thread whose keep is true among the threads before it,
 * and (*total) the number of keeps; every thread of the block calls it. */
__device__ int ovf_rank(bool keep, int *wc, int *total) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const unsigned b = __ballot_sync(0xffffffffu, keep);
    if (lane == 0) wc[warp] = __popc(b);
    __syncthreads();
    int off = 0, tot = 0;
#pragma unroll
    for (int k = 0; k < OVF_WARPS; k++) off += k < warp ? wc[k] : 0, tot += wc[k];
    __syncthreads(); /* wc is the next scan's */
    *total = tot;
    return off + __popc(b & ((1u << lane) - 1u));
}

/* Step 1: the fp32 scores of the row's keys in the tiles that can hold a listed key, 64 per
 * kept tile (−inf outside [lo, hi)), into s with their keys; returns how many, and the block's
 * largest score in *mx (every thread). */
template <int RC>
__device__ int ovf_score_tiles(const cu_attn_geom &g, const cu_ent_ws &w, ovf_smem &sm, int item,
                               int lo, int hi, float *s, int *key, float *mx) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int h = item / g.nq, row = item % g.nq, kvh = h / g.group, i = g.q0 + row;
    const float thr = w.tau[item], slope = g.slopes ? g.slopes[h] : 0.0f;
    const float *tm = w.tmax + ((size_t)h * w.nqb + row / w.bq) * w.nkt;
    const int t0 = lo / w.bk, t1 = (hi - 1) / w.bk;
    float m = -INFINITY;
    int n = 0;
    for (int base = t0; base <= t1; base += OVF_THREADS) {
        const int t = base + tid;
        const bool keep = t <= t1 && !(tm[t] < thr); /* pass 2 lists nothing from the others */
        int cnt;
        const int at = ovf_rank(keep, sm.wc, &cnt);
        if (keep) sm.tiles[at] = t;
        __syncthreads();
        for (int k = warp; k < cnt; k += OVF_WARPS) {
            const int j0 = sm.tiles[k] * w.bk;
#pragma unroll(RC == 2 ? 2 : 1) /* a 128-wide key's loads fill the registers alone */
            for (int hh = 0; hh < 2; hh++) {
                const int j = j0 + lane + 32 * hh;
                const float v = j >= lo && j < hi
                                    ? exact_score<32 * RC>(g, sm.qv, j, kvh, slope, i)
                                    : -INFINITY;
                const size_t at = (size_t)(n + k) * OVF_TK + lane + 32 * hh;
                s[at] = v, key[at] = j;
                m = fmaxf(m, v);
            }
        }
        n += cnt;
        __syncthreads(); /* tiles is the next round's */
    }
    *mx = cu_block_max(m, sm.redf);
    return n * OVF_TK;
}

/* Packs, in place and in order, the entries e < n of s (and key) for which keep(e, value) is
 * true, writing f(value) in place of the value; returns their count. Safe in place: round r
 * writes below the end of the positions it has read, which later rounds do not read. */
template <class K, class F>
__device__ int ovf_pack(float *s, int *key, int n, int *wc, K keep, F f) {
    int c = 0;
    for (int base = 0; base < n; base += OVF_THREADS) {
        const int e = base + (int)threadIdx.x;
        const float v = e < n ? s[e] : -INFINITY;
        const int kk = e < n ? key[e] : 0;
        const bool k = e < n && keep(v);
        int cnt;
        const int at = c + ovf_rank(k, wc, &cnt); /* its barriers follow every read */
        if (k) s[at] = f(v), key[at] = kk;
        c += cnt;
        __syncthreads();
    }
    return c;
}

/* Step 3: o = Σ p v over the ns support entries (p, key), by the block; returns the sum into
 * g.out (times inv). */
template <int RC>
__device__ void ovf_output(const cu_attn_geom &g, ovf_smem &sm, const float *p, const int *key,
                           int ns, int kvh, float *out, float inv) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float acc[RC];
#pragma unroll
    for (int c = 0; c < RC; c++) acc[c] = 0.0f;
    for (int e = warp; e < ns; e += 4 * OVF_WARPS) {
        float v[4][RC], pj[4];
#pragma unroll
        for (int b = 0; b < 4; b++) {
            const int x = e + b * OVF_WARPS;
            pj[b] = x < ns ? p[x] : 0.0f;
            if (x < ns) load_v<RC>(g, key[x], kvh, lane, v[b]);
        }
#pragma unroll
        for (int b = 0; b < 4; b++)
            if (e + b * OVF_WARPS < ns)
#pragma unroll
                for (int c = 0; c < RC; c++) acc[c] += pj[b] * v[b][c];
    }
#pragma unroll
    for (int c = 0; c < RC; c++) sm.part[warp][lane * RC + c] = acc[c];
    __syncthreads();
    if ((int)threadIdx.x < 32 * RC) {
        float o = 0.0f;
#pragma unroll
        for (int k = 0; k < OVF_WARPS; k++) o += sm.part[k][threadIdx.x];
        out[threadIdx.x] = o * inv;
    }
}

/* The 64-key statistics tiles holding a support key: the support is in key order, so a tile's
 * first support key is the one whose predecessor lies in another tile. */
__device__ int ovf_support_tiles(const int *key, int ns, double *red) {
    int st = 0;
    for (int e = threadIdx.x; e < ns; e += OVF_THREADS)
        st += e == 0 || key[e - 1] / CU_ATTN_STAT_TK != key[e] / CU_ATTN_STAT_TK;
    return (int)cu_block_sum((double)st, red);
}

/* One overflowed row (item) by the block (see the file's head). */
template <int RC>
__device__ void ovf_row(const cu_attn_geom &g, const cu_ent_ws &w, ovf_smem &sm, int item,
                        float *s, int *key) {
    const int h = item / g.nq, row = item % g.nq, kvh = h / g.group;
    int lo, hi;
    cu_attn_visible(g, g.q0 + row, &lo, &hi);
    const float qf = cu_attn_qfactor(g, row, h);
    for (int x = threadIdx.x; x < g.d; x += OVF_THREADS)
        sm.qv[x] = g.q[((size_t)row * g.H + h) * g.d + x] * qf;
    __syncthreads();
    float m;
    const int n = ovf_score_tiles<RC>(g, w, sm, item, lo, hi, s, key, &m);
    const float am1 = g.alpha - 1.0f, ex = 1.0f / am1, alpha = g.alpha;
    /* the candidates x = (α−1)(s − m) > −1, as the warp path keeps them */
    const int nc = ovf_pack(s, key, n, sm.wc, [&](float v) { return am1 * (v - m) > -1.0f; },
                            [&](float v) { return am1 * (v - m); });
    const block_row br = {s, nc, sm.red, sm.redf};
    const float tau = (float)solve_tau(br, (double)nc, alpha);
    double psum = 0.0;
    for (int e = threadIdx.x; e < nc; e += OVF_THREADS)
        psum += entmax_weight(s[e] - tau, alpha, ex);
    psum = cu_block_sum(psum, sm.red);
    const int ns = ovf_pack(
        s, key, nc, sm.wc, [&](float v) { return entmax_weight(v - tau, alpha, ex) > 0.0f; },
        [&](float v) { return entmax_weight(v - tau, alpha, ex); });
    const float inv = alpha == 1.5f || alpha == 2.0f ? 1.0f : (float)(1.0 / psum);
    ovf_output<RC>(g, sm, s, key, ns, kvh, g.out + ((size_t)row * g.H + h) * g.dv, inv);
    const int stiles = g.stats ? ovf_support_tiles(key, ns, sm.red) : 0;
    if (threadIdx.x == 0) w.tau[item] = tau;
    if (threadIdx.x == 0 && g.stats) row_stats(g, h, lo, hi, ns, stiles, false);
    __syncthreads(); /* the shared memory and scratch are the next row's */
}

/* A block per overflowed row, grid-stride over the queue. */
template <int RC>
__global__ void __launch_bounds__(OVF_THREADS, 2) list_overflow(const cu_attn_geom g,
                                                             const cu_ent_ws w, const int *ovf_n,
                                                             const int *ovf) {
    __shared__ ovf_smem sm;
    const size_t span = (size_t)w.nkt * w.bk;
    float *s = w.scratch + (size_t)blockIdx.x * 2 * span;
    int *key = (int *)(s + span);
    for (int e = blockIdx.x; e < *ovf_n; e += gridDim.x) ovf_row<RC>(g, w, sm, ovf[e], s, key);
}

cudaError_t cu_attn_list_overflow_launch(const cu_attn_geom *g, const cu_ent_ws *w,
                                         cudaStream_t st) {
    if (w->bk != OVF_TK || !g->kv_bf16 || (g->dv != 64 && g->dv != 128))
        return cudaErrorNotSupported;
    const list_queues qu = cu_list_queues(g, w);
    const int *ovf_n = qu.ovf_n, *ovf = qu.ovf;
    const unsigned blocks = (unsigned)w->rows_grid;
    if (g->dv == 128) list_overflow<4><<<blocks, OVF_THREADS, 0, st>>>(*g, *w, ovf_n, ovf);
    else list_overflow<2><<<blocks, OVF_THREADS, 0, st>>>(*g, *w, ovf_n, ovf);
    return cudaGetLastError();
}
