/* entmax_exact.c — exact thresholds for sparsemax (α = 2) and entmax-1.5
 * (docs/ATTENTION_MATH.md#exact-thresholds-sparsemax-and-entmax-15).
 *
 * Input: candidates x = (α−1)(z − max z) (max x = 0, every x > −1). Two exact algorithms:
 *  - sort: closed forms over the sorted prefix, counting the support as the entmax package
 *    does. O(c log c); used for short candidate lists.
 *  - support iteration (long lists): Newton on f(τ) = Σ [x − τ]_+^(1/(α−1)) − 1 from τ = −1. f is convex and
 *    decreasing, so Newton from the left never passes the root: τ grows and the active set
 *    {x > τ} shrinks. Each step also evaluates the closed form on the active set; as soon as it
 *    satisfies the optimality conditions (every active x ≥ τ_c, every dropped x ≤ τ_c) it is
 *    the exact answer. For sparsemax this is Michelot's algorithm. Cost: a few branch-free
 *    passes over a shrinking set, no sort, which is what long rows need.
 * Sums are in double; the answer does not depend on anything but the row.
 */
#include <math.h>
#include <stdlib.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "attention_internal.h"

/* Descending sort: insertion sort for short rows, qsort above. */
static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static void sort_desc(float *x, size_t c) {
    if (c > 32) {
        qsort(x, c, sizeof(float), cmp_desc);
        return;
    }
    for (size_t i = 1; i < c; i++) {
        float v = x[i];
        size_t j = i;
        while (j > 0 && x[j - 1] < v) {
            x[j] = x[j - 1];
            j--;
        }
        x[j] = v;
    }
}

double sp__entmax_tau_sort(float *x, size_t c, int sparsemax) {
    sort_desc(x, c);
    if (sparsemax) {
        /* support = {r : r·x_(r) > Σ_{s≤r} x_(s) − 1}; τ = (Σ_{r≤k} x_(r) − 1)/k */
        double cs = 0.0;
        size_t k = 0;
        for (size_t r = 1; r <= c; r++) {
            cs += x[r - 1];
            if ((double)r * x[r - 1] > cs - 1.0) k++;
        }
        if (k == 0) k = 1;
        double sk = 0.0;
        for (size_t r = 0; r < k; r++) sk += x[r];
        return (sk - 1.0) / (double)k;
    }
    /* entmax-1.5: τ_r = M_r − sqrt(max((1 − S_r)/r, 0)), S_r = r·(mean of squares − M_r²);
     * k = #{r : τ_r ≤ x_(r)}, τ = τ_k. */
    double s1 = 0.0, s2 = 0.0;
    size_t k = 0;
    for (size_t r = 1; r <= c; r++) {
        double y = x[r - 1];
        s1 += y;
        s2 += y * y;
        double mean = s1 / (double)r, ss = s2 - (double)r * mean * mean;
        double delta = (1.0 - ss) / (double)r;
        double tau = mean - sqrt(delta > 0.0 ? delta : 0.0);
        if (tau <= y) k++;
    }
    if (k == 0) k = 1;
    s1 = s2 = 0.0;
    for (size_t r = 0; r < k; r++) {
        s1 += x[r];
        s2 += (double)x[r] * x[r];
    }
    double mean = s1 / (double)k, ss = s2 - (double)k * mean * mean;
    double delta = (1.0 - ss) / (double)k;
    return mean - sqrt(delta > 0.0 ? delta : 0.0);
}

/* Σ (a − τ), Σ (a − τ)² and min a over a[0..n), with 8 independent partial sums combined
 * in a fixed order: no long dependency chain, same result wherever it runs. */
static void moments(const float *a, size_t n, double tau, double *d1, double *d2, float *xmin) {
    double s1[8] = {0}, s2[8] = {0};
    float mn[8];
    for (int l = 0; l < 8; l++) mn[l] = HUGE_VALF;
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) {
            const double d = (double)a[j + l] - tau;
            s1[l] += d;
            s2[l] += d * d;
            mn[l] = a[j + l] < mn[l] ? a[j + l] : mn[l];
        }
    for (int l = 0; j < n; j++, l++) {
        const double d = (double)a[j] - tau;
        s1[l] += d;
        s2[l] += d * d;
        mn[l] = a[j] < mn[l] ? a[j] : mn[l];
    }
    for (int w = 4; w > 0; w >>= 1)
        for (int l = 0; l < w; l++) {
            s1[l] += s1[l + w];
            s2[l] += s2[l + w];
            mn[l] = mn[l + w] < mn[l] ? mn[l + w] : mn[l];
        }
    *d1 = s1[0];
    *d2 = s2[0];
    *xmin = mn[0];
}

/* a[0..m) = the values of act[0..na) above τ (compared in double), in order; returns m. act
 * may be a. Sixteen at a time with AVX-512 (a register compress, then a whole store at a + m:
 * m ≤ j, so it stays inside the na values and past every value still to be read), the rest
 * with a branch-free store (write always, advance when kept): random rows would mispredict a
 * branch half the time. */
static size_t keep_above(const float *act, size_t na, double tau, float *a) {
    size_t m = 0, j = 0;
#if defined(__AVX512F__)
    const __m512d t = _mm512_set1_pd(tau);
    for (; j + 16 <= na; j += 16) {
        const __m512 v = _mm512_loadu_ps(act + j);
        const __m256 vhi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
        const __mmask8 klo = _mm512_cmp_pd_mask(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), t,
                                                _CMP_GT_OQ);
        const __mmask8 khi = _mm512_cmp_pd_mask(_mm512_cvtps_pd(vhi), t, _CMP_GT_OQ);
        const __mmask16 k = (__mmask16)((unsigned)klo | (unsigned)khi << 8);
        _mm512_storeu_ps(a + m, _mm512_maskz_compress_ps(k, v));
        m += (size_t)__builtin_popcount((unsigned)k);
    }
#endif
    for (; j < na; j++) {
        const float v = act[j];
        a[m] = v;
        m += (size_t)(v > tau);
    }
    return m;
}

double sp__entmax_tau_support(const float *x, size_t c, int sparsemax, float *a, int *ok) {
    /* Start at τ = −1, where every candidate (x > −1) is active and f(−1) >= 0. */
    double tau = -1.0;
    const float *act = x;
    size_t na = c;
    for (int it = 0; it < 100 && na > 0; it++) {
        double d1, d2;
        float xmin;
        moments(act, na, tau, &d1, &d2, &xmin);
        const double k = (double)na;
        double tc, tn;
        if (sparsemax) {
            tc = tau + (d1 - 1.0) / k;          /* closed form on the active set */
            tn = tc;                            /* = the Newton step */
        } else {
            double md = d1 / k, ss = d2 - k * md * md;
            if (ss < 0.0) ss = 0.0;
            double delta = (1.0 - ss) / k;
            tc = tau + md - sqrt(delta > 0.0 ? delta : 0.0);
            tn = d1 > 0.0 ? tau + (d2 - 1.0) / (2.0 * d1) : tc;
        }
        /* Optimality: every active value ≥ τ_c, every dropped value ≤ τ_c. Dropped values are
         * ≤ τ, so τ_c ≥ τ settles the second half (it holds at the answer, since Newton from
         * the left keeps τ ≤ τ*). */
        if (xmin >= tc && tc >= tau) {
            *ok = 1;
            return tc;
        }
        if (!(tn > tau)) break;                 /* no progress: rounding; let the sort decide */
        tau = tn;
        na = keep_above(act, na, tau, a);
        act = a;
    }
    *ok = 0;
    return tau;
}

#define SORT_MAX 48 /* candidate lists up to this length are sorted */

double sp__entmax_tau_exact(const float *x, size_t c, int sparsemax, float *scratch) {
    if (c > SORT_MAX) {
        int ok = 0;
        double tau = sp__entmax_tau_support(x, c, sparsemax, scratch, &ok);
        if (ok) return tau;
    }
    for (size_t j = 0; j < c; j++) scratch[j] = x[j];
    return sp__entmax_tau_sort(scratch, c, sparsemax);
}
