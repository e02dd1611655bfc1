/* entmax_bisect_ref.c — the reference code's entmax_bisect reproduced step by step in fp32
 * (docs/ATTENTION_MATH.md#other-alpha-the-converged-solver), for matching its numbers exactly. Not used by attention (sparsa uses the exact
 * or converged threshold); kept so tests can pin the reference solver's behaviour.
 *
 * d is the full row length, masked columns included (pass them, e.g. as −FLT_MAX). The final
 * p is the one computed at the last τ_m, divided by its sum.
 */
#include <math.h>
#include "attention.h"

void sp_entmax_bisect_ref(const float *z, size_t n, float alpha, int n_iter, float *p) {
    if (n == 0) return;
    const float am1 = alpha - 1.0f;
    const float inv = 1.0f / am1;
    float max_val = -INFINITY;
    for (size_t j = 0; j < n; j++) {
        float x = z[j] * am1;
        if (x > max_val) max_val = x;
    }
    const float tau_lo0 = max_val - 1.0f; /* 1^(α−1) = 1 */
    const float tau_hi = max_val - powf((float)(1.0 / (double)n), am1);
    float tau_lo = tau_lo0;

    float f_lo = 0.0f;
    for (size_t j = 0; j < n; j++) {
        float d = z[j] * am1 - tau_lo;
        f_lo += d > 0.0f ? powf(d, inv) : 0.0f;
    }
    f_lo -= 1.0f;

    float dm = tau_hi - tau_lo;
    for (size_t j = 0; j < n; j++) p[j] = 0.0f;
    for (int it = 0; it < n_iter; it++) {
        dm /= 2.0f;
        const float tau_m = tau_lo + dm;
        float f_m = 0.0f;
        for (size_t j = 0; j < n; j++) {
            float d = z[j] * am1 - tau_m;
            p[j] = d > 0.0f ? powf(d, inv) : 0.0f;
            f_m += p[j];
        }
        f_m -= 1.0f;
        if (f_m * f_lo >= 0.0f) tau_lo = tau_m;
    }
    float sum = 0.0f;
    for (size_t j = 0; j < n; j++) sum += p[j];
    for (size_t j = 0; j < n; j++) p[j] /= sum;
}
