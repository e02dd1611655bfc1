/* gemm_plan.h — how a product y = x·Wᵀ is cut into parts for threads, and the per-thread
 * workspace and edge tiles of the blocked loops: the plan the fp32 driver (gemm.c) and the
 * bf16 driver (gemm_bf16.c) share. Each driver keeps its own packing and microkernels.
 * Not a public header.
 */
#ifndef SPARSA_GEMM_PLAN_H
#define SPARSA_GEMM_PLAN_H

#include <stddef.h>

/* Below this many rows of x the row path wins (packing W costs more than it saves). */
#define SP_GEMM_SMALL_M 4
/* Output columns per packed W block. */
#define SP_GEMM_NC 256

/* One part of the output: rows [r0, r1) × columns [c0, c1). */
typedef struct sp_gemm_part {
    size_t r0, r1, c0, c1;
} sp_gemm_part;

/* Computes part t of nt of the product described by job; small: m < SP_GEMM_SMALL_M. */
typedef void (*sp_gemm_part_fn)(const void *job, int t, int nt, int small);

/* Runs part_fn over all parts of an m × n × k product, on one thread or, when the product is
 * large enough and not already inside a parallel region, on all of them, parts taken
 * dynamically. nr: the microkernel's tile width; 0 when the product has no blocked path. */
void sp_gemm_run_parts(const void *job, sp_gemm_part_fn part_fn, size_t m, size_t n, size_t k,
                       size_t nr);

/* Part t of nt of the row path: columns [c0, c1) in runs of 8 (keeps the W-row grouping
 * fixed); returns 0 when the part is empty. */
int sp_gemm_row_part(size_t n, int t, int nt, size_t *c0, size_t *c1);

/* Part t of nt of the blocked path with mr × nr tiles: contiguous columns, or rows when
 * columns are too few; returns 0 when the part is empty. */
int sp_gemm_blocked_part(size_t m, size_t n, size_t mr, size_t nr, int t, int nt,
                         sp_gemm_part *part);

/* A per-thread buffer of at least `bytes`, 64-byte aligned, kept between calls (a product runs
 * thousands of times per forward); NULL if it cannot be allocated. */
void *sp_gemm_workspace(size_t bytes);

/* An edge tile (rows × cols of c, row stride ldc) to and from a full-size scratch tile ct of
 * row stride nr, so the microkernel can always write a whole tile. */
void sp_gemm_edge_load(float *ct, size_t nr, const float *c, size_t ldc, size_t rows,
                       size_t cols);
void sp_gemm_edge_store(float *c, size_t ldc, const float *ct, size_t nr, size_t rows,
                        size_t cols);

#endif
