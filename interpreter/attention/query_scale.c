/* query_scale.c — length-dependent query scaling factors
 * (docs/ATTENTION_MATH.md#query-scaling; format/GRAPH.md §5).
 *
 * For the query at absolute position i, ℓ_i = log(i + log_offset) (default offset 2: log 2 for
 * the first position). Only the LAST scaled_heads heads are scaled; the others get factor 1.
 *   asentmax: c = δ + softplus(β_lin)·ℓ^(a·tanh(γ_lin))   (β_lin, γ_lin = W h + b per row)
 *   ssmax:    c = ℓ·β_h
 *   learn:    c = δ + β_h·ℓ^(γ_h)
 * The factor multiplies q (after RoPE, before 1/√d), so it scales the dot-product logits only;
 * the ALiBi bias is added later, unscaled. Computed in double, rounded once.
 */
#include <math.h>
#include "attention.h"

/* PyTorch's softplus (β = 1, threshold 20): x above the threshold passes through. */
static double softplus(double x) {
    return x > 20.0 ? x : log1p(exp(x));
}

void sp_query_scale(const sp_qscale_params *p, size_t q0, size_t nq, const float *beta_lin,
                    const float *gamma_lin, float *qscale) {
    const int H = p->heads, Hs = p->scaled_heads, first = p->heads - p->scaled_heads;
    for (size_t r = 0; r < nq; r++) {
        float *row = qscale + r * (size_t)H;
        for (int h = 0; h < H; h++) row[h] = 1.0f;
        if (p->kind == SP_QSCALE_NONE || Hs <= 0) continue;
        const double ell = log((double)(q0 + r) + (double)p->log_offset);
        for (int hs = 0; hs < Hs; hs++) {
            double c = 1.0;
            switch (p->kind) {
            case SP_QSCALE_ASENTMAX: {
                double b = softplus(beta_lin[r * (size_t)Hs + hs]);
                double g = p->gamma_range * tanh((double)gamma_lin[r * (size_t)Hs + hs]);
                c = p->delta + b * pow(ell, g);
                break;
            }
            case SP_QSCALE_SSMAX:
                c = ell * p->beta[hs];
                break;
            case SP_QSCALE_LEARN:
                c = p->delta + p->beta[hs] * pow(ell, (double)p->gamma[hs]);
                break;
            default:
                break;
            }
            row[first + hs] = (float)c;
        }
    }
}
