/* gemm_plan.c — the plan both gemm drivers share (gemm_plan.h): the thread split, the parts of
 * the row and blocked paths, the per-thread workspace and the edge tiles. Every output element
 * is computed by the same instructions whichever part or thread holds it, so how the output is
 * cut changes no bit.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_plan.h"

/* Products smaller than this many multiply-adds run on one thread. */
#define PARALLEL_MIN_MACS (1u << 16)

void sp_gemm_run_parts(const void *job, sp_gemm_part_fn part_fn, size_t m, size_t n, size_t k,
                       size_t nr) {
    int small = m < SP_GEMM_SMALL_M, nested = omp_in_parallel();
    double macs = (double)m * (double)n * (double)k;
    int nt = nested || macs < PARALLEL_MIN_MACS ? 1 : omp_get_max_threads();
    if (nt <= 1) {
        part_fn(job, 0, 1, small);
        return;
    }
    /* Two parts per thread, taken dynamically: on a shared machine a thread that is
     * descheduled for a while no longer holds up the whole product. Which thread computes a
     * part changes no number. Parts of at least 4 panels keep the cost of packing x (once per
     * part) small. */
    size_t panels = nr ? (n + nr - 1) / nr : n / 8;
    int parts = 2 * nt;
    if (!small && nr && panels / 4 < (size_t)parts)
        parts = panels / 4 > (size_t)nt ? (int)(panels / 4) : nt;
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int t = 0; t < parts; t++) part_fn(job, t, parts, small);
}

int sp_gemm_row_part(size_t n, int t, int nt, size_t *c0, size_t *c1) {
    size_t groups = (n + 7) / 8;
    *c0 = groups * (size_t)t / (size_t)nt * 8;
    *c1 = groups * (size_t)(t + 1) / (size_t)nt * 8;
    if (*c1 > n) *c1 = n;
    return *c0 < *c1;
}

int sp_gemm_blocked_part(size_t m, size_t n, size_t mr, size_t nr, int t, int nt,
                         sp_gemm_part *part) {
    size_t panels = (n + nr - 1) / nr, rpanels = (m + mr - 1) / mr;
    *part = (sp_gemm_part){0, m, 0, n};
    if (panels >= (size_t)nt || rpanels < (size_t)nt) {
        part->c0 = panels * (size_t)t / (size_t)nt * nr;
        part->c1 = panels * (size_t)(t + 1) / (size_t)nt * nr;
        if (part->c1 > n) part->c1 = n;
    } else {
        part->r0 = rpanels * (size_t)t / (size_t)nt * mr;
        part->r1 = rpanels * (size_t)(t + 1) / (size_t)nt * mr;
        if (part->r1 > m) part->r1 = m;
    }
    return part->r0 < part->r1 && part->c0 < part->c1;
}

/* Grows, never shrinks. */
static _Thread_local void *tl_ws;
static _Thread_local size_t tl_ws_bytes;

void *sp_gemm_workspace(size_t bytes) {
    if (bytes <= tl_ws_bytes) return tl_ws;
    free(tl_ws);
    tl_ws_bytes = 0;
    tl_ws = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (tl_ws) tl_ws_bytes = bytes;
    return tl_ws;
}

void sp_gemm_edge_load(float *ct, size_t nr, const float *c, size_t ldc, size_t rows,
                       size_t cols) {
    for (size_t r = 0; r < rows; r++) memcpy(ct + r * nr, c + r * ldc, cols * sizeof(float));
}

void sp_gemm_edge_store(float *c, size_t ldc, const float *ct, size_t nr, size_t rows,
                        size_t cols) {
    for (size_t r = 0; r < rows; r++) memcpy(c + r * ldc, ct + r * nr, cols * sizeof(float));
}
