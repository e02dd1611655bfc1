/* entmax_solver.c — τ for α-entmax with any α > 1, by a converged bracketed Halley iteration
 * with bisection fallback (in double); docs/ATTENTION_MATH.md#other-alpha-the-converged-solver.
 *
 * f(τ) = Σ_j [x_j − τ]_+^e − 1, e = 1/(α−1), is decreasing in τ. On candidates
 * x = (α−1)(z − max z) the root lies in [−1, −c^(1−α)] (c = number of candidates). Each step
 * keeps the bracket from the sign of f, tries the Halley step, and bisects when the step
 * leaves the bracket. It runs until τ stops moving (double precision), not for a fixed count:
 * this is the converged answer that the reference's 50-step fp32 bisection approximates.
 */
#include <math.h>
#include "attention_internal.h"

double sp__entmax_tau_solve(const float *x, size_t c, double alpha) {
    const double e = 1.0 / (alpha - 1.0);
    double lo = -1.0, hi = -pow((double)c, 1.0 - alpha);
    if (c <= 1) return hi; /* one candidate: p = (0 − τ)^e = 1 ⇒ τ = −1 = hi */
    double tau = 0.5 * (lo + hi);
    for (int it = 0; it < 200; it++) {
        double f = -1.0, f1 = 0.0, f2 = 0.0;
        for (size_t j = 0; j < c; j++) {
            double d = (double)x[j] - tau;
            if (d <= 0.0) continue;
            double pe = pow(d, e);
            f += pe;
            f1 -= e * pe / d;
            f2 += e * (e - 1.0) * pe / (d * d);
        }
        if (f > 0.0) lo = tau;
        else if (f < 0.0) hi = tau;
        else return tau;
        double den = 2.0 * f1 * f1 - f * f2;
        double tn = den != 0.0 ? tau - 2.0 * f * f1 / den : NAN;
        if (!(tn > lo && tn < hi)) tn = 0.5 * (lo + hi);
        if (tn == tau || hi - lo <= 4e-16 * (fabs(lo) + fabs(hi))) return tn;
        tau = tn;
    }
    return tau;
}
