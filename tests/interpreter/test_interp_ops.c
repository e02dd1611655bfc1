/* test_interp_ops.c — the vectorisable activations against double-precision formulas. */
#include <criterion/criterion.h>
#include <math.h>

#include "interp_internal.h"

Test(interp_ops, expf_fast_within_2ulp) {
    double worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.00137f) {
        double t = exp((double)x), a = sp_expf_fast(x);
        double rel = fabs(a - t) / t;
        if (rel > worst) worst = rel;
    }
    cr_log_info("expf_fast: max relative error %.3g", worst);
    cr_assert_lt(worst, 2.5e-7, "max relative error %.3g", worst);
    cr_assert_eq(sp_expf_fast(0.0f), 1.0f);
    cr_assert(isnan(sp_expf_fast(NAN)));
    cr_assert(sp_expf_fast(-1000.0f) >= 0.0f && sp_expf_fast(-1000.0f) < 1e-37f);
    cr_assert(isfinite(sp_expf_fast(1000.0f)));
}

Test(interp_ops, silu_and_gelu_tanh) {
    double ws = 0, wg = 0;
    for (float x = -30.0f; x <= 30.0f; x += 0.0013f) {
        double xd = x;
        double s = xd / (1.0 + exp(-xd));
        double g = 0.5 * xd * (1.0 + tanh(sqrt(2.0 / M_PI) * (xd + 0.044715 * xd * xd * xd)));
        double es = fabs(sp_silu(x) - s) / fmax(1.0, fabs(s));
        double eg = fabs(sp_gelu_tanh(x) - g) / fmax(1.0, fabs(g));
        if (es > ws) ws = es;
        if (eg > wg) wg = eg;
    }
    cr_log_info("silu %.3g, gelu_tanh %.3g (error relative to max(1, |y|))", ws, wg);
    cr_assert_lt(ws, 1e-6);
    cr_assert_lt(wg, 1e-6);
    cr_assert(fabs(sp_gelu_erf(1.0f) - 0.8413447460685429) < 1e-6);
}
