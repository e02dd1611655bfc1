/* gemm_plan.c — the plan both gemm drivers share (gemm_plan.h): the thread split, the parts of
 * the row and blocked paths, the per-thread workspace and the blocked loops. Every output
 * element is computed by the same instructions whichever part or thread holds it, so how the
 * output is cut changes no bit.
 */
#include <omp.h>
#include <stdlib.h>
#include <stdint.h>
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

/* An edge tile goes through a full-size scratch tile ct, so the microkernel always writes a
 * whole one. */
static void edge_tile(const sp_gemm_blocking *bl, const void *job, size_t depth, const void *a,
                      size_t lda, const void *b, float *c, size_t ldc, size_t rows, size_t cols,
                      int acc, float *ct) {
    if (acc)
        for (size_t r = 0; r < rows; r++)
            memcpy(ct + r * bl->nr, c + r * ldc, cols * sizeof(float));
    bl->kernel(job, depth, a, lda, b, ct, bl->nr, acc);
    for (size_t r = 0; r < rows; r++) memcpy(c + r * ldc, ct + r * bl->nr, cols * sizeof(float));
}

/* Packed words per row of a panel for kc inputs. */
static size_t packed_depth(const sp_gemm_blocking *bl, size_t kc) {
    size_t depth = (kc + bl->pair - 1) / bl->pair, align = bl->depth_align ? bl->depth_align : 1;
    return (depth + align - 1) / align * align;
}

int sp_gemm_blocked_range(const sp_gemm_blocking *bl, const void *job, float *y, size_t k,
                          size_t n, const sp_gemm_part *part) {
    const size_t MR = bl->mr, NR = bl->nr, KC = bl->kc, XS = bl->x_stride, NC = SP_GEMM_NC;
    const size_t MC = (bl->mc_rows + MR - 1) / MR * MR;
    size_t r0 = part->r0, r1 = part->r1, c0 = part->c0, c1 = part->c1;
    size_t nc_max = c1 - c0 < NC ? (c1 - c0 + NR - 1) / NR * NR : NC;
    size_t mc_max = r1 - r0 < MC ? (r1 - r0 + MR - 1) / MR * MR : MC;
    size_t depth_max = packed_depth(bl, k < KC ? k : KC);
    size_t words = nc_max * depth_max + mc_max * XS + bl->tmp_words + MR * NR;
    uint32_t *ws = sp_gemm_workspace(words * sizeof(uint32_t));
    if (!ws) return -1;
    uint32_t *wp = ws, *xp = wp + nc_max * depth_max, *tmp = xp + mc_max * XS;
    float *ct = (float *)(tmp + bl->tmp_words);
    for (size_t jc = c0; jc < c1; jc += NC) {
        size_t nc = c1 - jc < NC ? c1 - jc : NC;
        for (size_t pc = 0; pc < k; pc += KC) {
            size_t kc = k - pc < KC ? k - pc : KC, depth = packed_depth(bl, kc);
            int acc = pc > 0;
            for (size_t jp = 0; jp < nc; jp += NR)
                bl->pack_w(job, jc + jp, pc, kc, tmp, wp + jp * depth);
            for (size_t ic = r0; ic < r1; ic += MC) {
                size_t mc = r1 - ic < MC ? r1 - ic : MC;
                for (size_t ip = 0; ip < mc; ip += MR)
                    if (!bl->x_in_place || mc - ip < MR)
                        bl->pack_x(job, ic + ip, r1, pc, kc, xp + ip * XS);
                for (size_t jp = 0; jp < nc; jp += NR) {
                    size_t cols = nc - jp < NR ? nc - jp : NR;
                    for (size_t ip = 0; ip < mc; ip += MR) {
                        size_t rows = mc - ip < MR ? mc - ip : MR, lda = XS;
                        const void *a = xp + ip * XS;
                        if (bl->x_in_place && rows == MR) a = bl->x_in_place(job, ic + ip, pc, &lda);
                        float *c = y + (ic + ip) * n + jc + jp;
                        if (rows == MR && cols == NR)
                            bl->kernel(job, depth, a, lda, wp + jp * depth, c, n, acc);
                        else
                            edge_tile(bl, job, depth, a, lda, wp + jp * depth, c, n, rows, cols,
                                      acc, ct);
                    }
                }
            }
        }
    }
    return 0;
}
