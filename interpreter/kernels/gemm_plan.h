/* gemm_plan.h — how a product y = x·Wᵀ is cut into parts for threads, the per-thread
 * workspace, and the blocked loops over packed panels (edge tiles included): the plan the fp32
 * driver (gemm.c) and the bf16 driver (gemm_bf16.c) share. Each driver keeps its own packing
 * and microkernels and hands them in as callbacks.
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

/* The packed, blocked loops (gemm_internal.h, gemm_bf16_internal.h) over 32-bit words: f32
 * inputs, or bf16 pairs. depth: packed words per row of a panel for kc inputs, ceil(kc / pair)
 * rounded up to depth_align. */
typedef struct sp_gemm_blocking {
    size_t mr, nr;       /* microkernel tile */
    size_t mc_rows;      /* about how many rows of x per packed x block */
    size_t kc;           /* inputs per k block */
    size_t pair;         /* inputs per packed word: 1 or 2 */
    size_t depth_align;  /* packed depth rounded up to a multiple of this (0 or 1: none); the
                          * packers zero the words past kc */
    size_t x_stride;     /* words between packed x rows */
    size_t tmp_words;    /* scratch pack_w may use */
    /* W rows [j0, j0 + nr) (zero past n), inputs [pc, pc + kc), as [depth][nr]. */
    void (*pack_w)(const void *job, size_t j0, size_t pc, size_t kc, void *tmp, void *dst);
    /* x rows [i0, i0 + mr) (zero past rows_end), inputs [pc, pc + kc), x_stride apart. */
    void (*pack_x)(const void *job, size_t i0, size_t rows_end, size_t pc, size_t kc,
                   void *dst);
    /* NULL, or x rows [i0, i0 + mr) at input pc read in place, *lda words apart, when x is
     * already in the kernel's type (f32): whole micro-panels then skip packing, which would
     * copy all of x once per block of SP_GEMM_NC columns. Same values, same bits. */
    const void *(*x_in_place)(const void *job, size_t i0, size_t pc, size_t *lda);
    /* c[mr][ldc] (+)= a · b over depth words, rows of a lda words apart; accumulate = 0
     * starts from zero. */
    void (*kernel)(const void *job, size_t depth, const void *a, size_t lda, const void *b,
                   float *c, size_t ldc, int accumulate);
} sp_gemm_blocking;

/* y[r0..r1)[c0..c1) (y is m × n, x is m × k) without bias. Returns -1 if the workspace cannot
 * be allocated. */
int sp_gemm_blocked_range(const sp_gemm_blocking *bl, const void *job, float *y, size_t k,
                          size_t n, const sp_gemm_part *part);

#endif
