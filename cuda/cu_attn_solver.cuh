/* cu_attn_solver.cuh — the entmax threshold solver of the CUDA attention (header only, device
 * code): τ of one row on x = (α−1)(s − m) by a warp (the values in registers or read from
 * memory) or by a whole block (values in memory). For α = 2 and α = 1.5 the support iteration
 * (Newton from the left with the closed form checked on the active set at every step: exact, no
 * sort), for other α — or if that iteration stalls on rounding — the bracketed Halley/bisection
 * run to double precision, as the CPU's entmax_solver.c (docs/ATTENTION_MATH.md, "Exact
 * thresholds" and "Other alpha: the converged solver"). Sums are in double.
 *
 * Used by cu_attn_solve.cu (candidate lists of the fp32 tile passes) and cu_attn_sparse.cu (the
 * short lists of the bf16 passes, first in single precision: solve_tau_short).
 */
#ifndef SPARSA_CU_ATTN_SOLVER_CUH
#define SPARSA_CU_ATTN_SOLVER_CUH

#include "cu_attn_internal.h"

/* Sums over the active values {x > τ} of a row's candidate list, x = (α−1)(s − m) for the
 * stored scores s (−inf for the stale ones), by one warp. NL > 0: the list (up to 32·NL
 * entries) is held in NL registers per lane; NL = 0: read from memory at every step. */
template <int NL> struct warp_row {
    const float *s;
    int n;
    float m, am1;
    float reg[NL > 0 ? NL : 1];
    __device__ float xm(int j) const {
        const float v = am1 * (s[j] - m);
        return v > -1.0f ? v : -INFINITY;
    }
    __device__ void load() {
#pragma unroll
        for (int i = 0; i < NL; i++) {
            const int j = (threadIdx.x & 31) + 32 * i;
            reg[i] = j < n ? xm(j) : -INFINITY;
        }
    }
    template <class F> __device__ void each(F f) const {
        if (NL > 0) {
#pragma unroll
            for (int i = 0; i < NL; i++) f(reg[i]);
        } else {
            for (int j = threadIdx.x & 31; j < n; j += 32) f(xm(j));
        }
    }
    /* in double for the exact solver (in float for solve_tau_short: the overload below) */
    __device__ void moments(double tau, double *k, double *d1, double *d2, float *xmin) const {
        double a = 0, b = 0, c = 0;
        float mn = INFINITY;
        each([&](float v) {
            if (v > tau) {
                const double d = (double)v - tau;
                a += 1.0, b += d, c += d * d;
                mn = fminf(mn, v);
            }
        });
        for (int o = 16; o > 0; o >>= 1) {
            a += __shfl_xor_sync(0xffffffffu, a, o);
            b += __shfl_xor_sync(0xffffffffu, b, o);
            c += __shfl_xor_sync(0xffffffffu, c, o);
            mn = fminf(mn, __shfl_xor_sync(0xffffffffu, mn, o));
        }
        *k = a, *d1 = b, *d2 = c, *xmin = mn;
    }
    /* in float, for solve_tau_short (a list in registers): the count from ballots and the
     * least value from one warp-wide minimum, fewer instructions than a butterfly each */
    __device__ void moments(float tau, float *k, float *d1, float *d2, float *xmin) const {
        static_assert(NL > 0, "the float sums serve lists in registers");
        float b = 0, c = 0, mn = INFINITY;
        int a = 0;
#pragma unroll
        for (int i = 0; i < NL; i++) {
            const bool in = reg[i] > tau;
            a += __popc(__ballot_sync(0xffffffffu, in));
            if (in) {
                const float d = reg[i] - tau;
                b += d, c += d * d;
                mn = fminf(mn, reg[i]);
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            b += __shfl_xor_sync(0xffffffffu, b, o);
            c += __shfl_xor_sync(0xffffffffu, c, o);
        }
        *k = (float)a, *d1 = b, *d2 = c;
        *xmin = cu_warp_min(mn);
    }
    __device__ void halley(double tau, double e, double *f, double *f1, double *f2) const {
        double a = 0, b = 0, c = 0;
        each([&](float v) {
            if (v > tau) {
                const double d = (double)v - tau, pe = pow(d, e);
                a += pe, b -= e * pe / d, c += e * (e - 1.0) * pe / (d * d);
            }
        });
        for (int o = 16; o > 0; o >>= 1) {
            a += __shfl_xor_sync(0xffffffffu, a, o);
            b += __shfl_xor_sync(0xffffffffu, b, o);
            c += __shfl_xor_sync(0xffffffffu, c, o);
        }
        *f = a - 1.0, *f1 = b, *f2 = c;
    }
    /* the number of candidates (x > −1) */
    __device__ double count() const {
        int c = 0;
        each([&](float v) { c += v > -1.0f; });
        for (int o = 16; o > 0; o >>= 1) c += __shfl_xor_sync(0xffffffffu, c, o);
        return (double)c;
    }
};

/* The same sums over x[0 … n) in memory, by a whole block (red: 32 doubles of shared). */
struct block_row {
    const float *x;
    int n;
    double *red;
    float *redf;
    __device__ void moments(double tau, double *k, double *d1, double *d2, float *xmin) const {
        double a = 0, b = 0, c = 0;
        float mn = INFINITY;
        for (int j = threadIdx.x; j < n; j += blockDim.x)
            if (x[j] > tau) {
                const double d = (double)x[j] - tau;
                a += 1.0, b += d, c += d * d;
                mn = fminf(mn, x[j]);
            }
        *k = cu_block_sum(a, red), *d1 = cu_block_sum(b, red), *d2 = cu_block_sum(c, red);
        *xmin = -cu_block_max(-mn, redf);
    }
    __device__ void halley(double tau, double e, double *f, double *f1, double *f2) const {
        double a = 0, b = 0, c = 0;
        for (int j = threadIdx.x; j < n; j += blockDim.x)
            if (x[j] > tau) {
                const double d = (double)x[j] - tau, pe = pow(d, e);
                a += pe, b -= e * pe / d, c += e * (e - 1.0) * pe / (d * d);
            }
        *f = cu_block_sum(a, red) - 1.0, *f1 = cu_block_sum(b, red), *f2 = cu_block_sum(c, red);
    }
};

/* The support iteration of α = 2 and α = 1.5 in T (Newton from the left, from tau ≤ the
 * row's τ, the closed form checked on the active set at every step); NAN where it does not
 * settle — no active value, or a step that does not move τ (rounding; also a start above τ,
 * whose first step goes left) — for the bracketed solver to decide. */
template <class T, class R> __device__ T support_tau(const R &row, bool sparsemax, T tau = -1) {
    for (int it = 0; it < 100; it++) {
        T k, d1, d2;
        float xmin;
        row.moments(tau, &k, &d1, &d2, &xmin);
        if (k == 0) break;
        T tc, tn;
        if (sparsemax) {
            tc = tn = tau + (d1 - 1) / k;
        } else {
            const T md = d1 / k, ss = fmax(d2 - k * md * md, T(0)), delta = (1 - ss) / k;
            tc = tau + md - sqrt(fmax(delta, T(0)));
            tn = d1 > 0 ? tau + (d2 - 1) / (2 * d1) : tc;
        }
        if (xmin >= tc && tc >= tau) return tc;
        if (!(tn > tau)) break;
        tau = tn;
    }
    return NAN;
}

/* The support iteration in single precision, for the short lists of the bf16 pipeline
 * (cu_attn_sparse.cu), whose scores carry the bf16 cache's rounding anyway: sums of at most
 * 32·NL values in float (one shuffle per sum and step instead of two, float division and
 * square root; the butterfly leaves every lane the same bits), from tau0 ≤ τ (the row's
 * listing threshold: about two steps fewer than from −1). NAN where it does not settle, and
 * for α other than 1.5 and 2, for solve_tau to decide. */
template <int NL>
__device__ float solve_tau_short(const warp_row<NL> &row, float alpha, float tau0) {
    if (alpha != 2.0f && alpha != 1.5f) return NAN;
    return support_tau<float>(row, alpha == 2.0f, fmaxf(tau0, -1.0f));
}

/* τ on the candidates (every value > −1, max 0; others −inf): c of them. */
template <class R>
__device__ double solve_tau(const R &row, double c, float alpha) {
    if (alpha == 2.0f || alpha == 1.5f) {
        const double tau = support_tau<double>(row, alpha == 2.0f);
        if (!isnan(tau)) return tau;
    }
    const double e = 1.0 / ((double)alpha - 1.0);
    double lo = -1.0, hi = -pow(c, 1.0 - (double)alpha);
    if (c <= 1.0) return hi;
    double tau = 0.5 * (lo + hi);
    for (int it = 0; it < 200; it++) {
        double f, f1, f2;
        row.halley(tau, e, &f, &f1, &f2);
        if (f > 0.0) lo = tau;
        else if (f < 0.0) hi = tau;
        else return tau;
        const double den = 2.0 * f1 * f1 - f * f2;
        double tn = den != 0.0 ? tau - 2.0 * f * f1 / den : NAN;
        if (!(tn > lo && tn < hi)) tn = 0.5 * (lo + hi);
        if (tn == tau || hi - lo <= 4e-16 * (fabs(lo) + fabs(hi))) return tn;
        tau = tn;
    }
    return tau;
}

#endif
