/* cu_attn_solve.cu — the entmax threshold τ of every (head, query row), between the two fp32 tile
 * passes (docs/ATTENTION_MATH.md, "The CUDA kernels"; the math of "Exact thresholds" and
 * "Other alpha: the converged solver").
 *
 * Input: the row's final maximum m and its candidate scores from the gather pass (a superset
 * of the keys with x = (α−1)(s − m) > −1; stale ones are dropped here with the final m).
 * One warp solves one row, reading its list (cached after the first pass), with the solver of
 * cu_attn_solver.cuh.
 * Rows whose list overflowed the workspace go to a block per row that recomputes the row's
 * scores into scratch and runs the same solver over memory.
 *
 * Output: τ in the shifted frame (p = [x − τ]_+^(1/(α−1))), NaN for a row without a finite
 * maximum.
 */
#include "cu_attn_solver.cuh"

/* One warp per (head, row): item = h·nq + row. Overflowed rows are listed for the block path
 * (w.cnt[H·nq] is the list's length, zeroed by the caller, the list follows it). */
__global__ void __launch_bounds__(256) solve_warps(const cu_attn_geom g, const cu_ent_ws w,
                                                    int *ovf_n, int *ovf) {
    const int lane = threadIdx.x & 31;
    const size_t item = (size_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    if (item >= (size_t)g.H * g.nq) return;
    const float m = w.m[item], am1 = g.alpha - 1.0f;
    const int cnt = w.cnt[item];
    if (!isfinite(m)) {
        if (lane == 0) w.tau[item] = NAN;
        return;
    }
    if (cnt > w.cap) {
        if (lane == 0) ovf[atomicAdd(ovf_n, 1)] = (int)item;
        return;
    }
    double tau;
    if (cnt <= 32 * 64) { /* most rows: the list in registers */
        warp_row<64> row = {w.cand + item * w.cap, cnt, m, am1, {}};
        row.load();
        tau = solve_tau(row, row.count(), g.alpha);
    } else {
        const warp_row<0> mem = {w.cand + item * w.cap, cnt, m, am1, {}};
        tau = solve_tau(mem, mem.count(), g.alpha);
    }
    if (lane == 0) w.tau[item] = (float)tau;
}

/* A block per overflowed row: the row's scores into scratch, shifted and filtered in place,
 * then the same solver over memory. */
__global__ void __launch_bounds__(256) solve_blocks(const cu_attn_geom g, const cu_ent_ws w,
                                                     const int *ovf_n, const int *ovf) {
    __shared__ double red[32];
    __shared__ float redf[32];
    extern __shared__ float qs[];
    float *s = w.scratch + (size_t)blockIdx.x * g.nk;
    const float am1 = g.alpha - 1.0f;
    for (int e = blockIdx.x; e < *ovf_n; e += gridDim.x) {
        const int item = ovf[e], h = item / g.nq, qrow = item % g.nq;
        int lo, hi;
        cu_attn_visible(g, g.q0 + qrow, &lo, &hi);
        cu_attn_row_scores(g, h, qrow, lo, hi, s, qs);
        const float m = w.m[item];
        int c = 0;
        for (int j = threadIdx.x; j < hi - lo; j += blockDim.x) {
            const float x = am1 * (s[j] - m);
            s[j] = x > -1.0f ? x : -INFINITY;
            c += x > -1.0f;
        }
        const double cs = cu_block_sum((double)c, red);
        const block_row row = {s, hi - lo, red, redf};
        const double tau = solve_tau(row, cs, g.alpha);
        if (threadIdx.x == 0) w.tau[item] = (float)tau;
        __syncthreads();
    }
}

cudaError_t cu_attn_solve_launch(const cu_attn_geom *g, const cu_ent_ws *w, cudaStream_t st) {
    const size_t items = (size_t)g->H * g->nq;
    int *ovf_n = w->cnt + items, *ovf = ovf_n + 1;
    cudaError_t e = cudaMemsetAsync(ovf_n, 0, sizeof(int), st);
    if (e != cudaSuccess) return e;
    solve_warps<<<(unsigned)((items + 7) / 8), 256, 0, st>>>(*g, *w, ovf_n, ovf);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    solve_blocks<<<(unsigned)w->rows_grid, 256, (size_t)g->d * sizeof(float), st>>>(*g, *w, ovf_n,
                                                                                   ovf);
    return cudaGetLastError();
}
