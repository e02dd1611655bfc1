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

/* scores.c: q·k in the fixed order described there; _dot8 scores keys b, b + stride, …,
 * b + 7·stride at once, each bit-identical to _dot on that key. */
float sp__score_dot(const float *a, const float *b, int d);
void sp__score_dot8(const float *a, const float *b, size_t stride, int d, float *out);

/* softmax.c: w = softmax(s) over n >= 1 entries (dense). */
void sp__softmax_row(const float *s, size_t n, float *w);

/* entmax.c: entmax over the candidates of s (keys with (α−1)(s_j − max) > −1; the others are
 * exactly zero and never looked at again); writes the support (idx, w), returns its size
 * m >= 1; *tau (if not NULL) as in sp_entmax. n >= 1. */
size_t sp__entmax_row(const float *s, size_t n, float alpha, uint32_t *idx, float *w, float *t,
                      float *tau);

/* Thresholds on candidate values x[0..c) = (α−1)(z − max z), so max x = 0 and every x > −1.
 * τ is returned in that shifted frame; p_j = [x_j − τ]_+^(1/(α−1)).
 * entmax_exact.c, for α = 2 (sparsemax != 0) and α = 1.5 (sparsemax == 0):
 *   _sort sorts x in place (descending) and applies the closed forms of
 *     docs/ATTENTION_MATH.md#exact-thresholds-sparsemax-and-entmax-15;
 *   _support iterates Newton steps from the left (τ only grows, the candidate set only
 *     shrinks) and accepts the closed form on the current set once it satisfies the optimality
 *     conditions; no sort. *ok = 0 if it did not settle (then use _sort). scratch: c floats;
 *   _exact picks _sort for short rows and _support for long ones (scratch: c floats). */
double sp__entmax_tau_sort(float *x, size_t c, int sparsemax);
double sp__entmax_tau_support(const float *x, size_t c, int sparsemax, float *scratch, int *ok);
double sp__entmax_tau_exact(const float *x, size_t c, int sparsemax, float *scratch);
/* entmax_solver.c: converged bracketed Halley/bisection for any α > 1 (in double). */
double sp__entmax_tau_solve(const float *x, size_t c, double alpha);

/* adaptive_softmax.c: the poly-fit adaptive-temperature softmax (dense). */
void sp__adaptive_softmax_row(const float *s, size_t n, float *w);

/* stickbreaking.c: weights for keys 0..n-1 strictly before the query (dense). */
void sp__stickbreaking_row(const float *s, size_t n, float *w);

/* topk.c: softmax over the k largest of s (lower index wins ties); support in (idx, w). */
size_t sp__topk_row(const float *s, size_t n, size_t k, uint32_t *idx, float *w, float *t);

#endif
