/* attention_internal.h — row-level pieces shared by the attention files (not a public header).
 *
 * A row normaliser reads the scores s[0..n) of one query over its visible keys and describes
 * its result as a support list: weights w[0..m) at key offsets idx[0..m) (relative to the first
 * visible key). Normalisers that are dense over the row (softmax) set *dense and leave idx
 * untouched: then w[j] is the weight of key j for j < n. Keys outside the support have weight
 * exactly 0 and are never read again.
 */
#ifndef SPARSA_ATTENTION_INTERNAL_H
#define SPARSA_ATTENTION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "attention.h"

/* Per-thread scratch, each array sized for the longest row (nk elements). */
typedef struct sp_row_ws {
    float *s;        /* scores */
    float *w;        /* weights */
    float *t;        /* solver scratch */
    uint32_t *idx;   /* support offsets */
} sp_row_ws;

/* softmax.c: w = softmax(s) over n >= 1 entries (dense). */
void sp__softmax_row(const float *s, size_t n, float *w);

/* entmax_exact.c / entmax_solver.c: entmax over the candidates of s (keys within 1/(α−1) of
 * the max); writes the support (idx, w), returns its size m >= 1; *tau as in sp_entmax. */
size_t sp__entmax_row(const float *s, size_t n, float alpha, uint32_t *idx, float *w, float *t,
                      float *tau);

/* Exact thresholds on candidate values x (already multiplied by α−1 and sorted descending or
 * not, see each function); return τ and the support size through *k. */
float sp__sparsemax_tau(float *x, size_t n, size_t *k);
float sp__entmax15_tau(float *x, size_t n, size_t *k);
/* Converged bracketed Halley/bisection for general α on candidates x = (α−1)z. */
float sp__entmax_solve_tau(const float *x, size_t n, float alpha);

/* stickbreaking.c: weights for keys 0..n-1 strictly before the query (dense). */
void sp__stickbreaking_row(const float *s, size_t n, float *w);

/* topk.c: softmax over the k largest of s (lower index wins ties); support in (idx, w). */
size_t sp__topk_row(const float *s, size_t n, size_t k, uint32_t *idx, float *w, float *t);

#endif
