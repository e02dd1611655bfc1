/* exp16.h — e^x on sixteen floats at once for arguments ≤ 0, shared by the softmax row kernel
 * and the tiled softmax (not a public header). The kernel of exp_poly.h (about 1 ulp, like
 * libm's expf), with 2^n applied as two normal factors so results in the subnormal range round
 * as they should; below −104 the result is 0, as expf's is; NaN in, NaN out. One definition,
 * so every caller gets the same bits for the same argument. */
#ifndef SPARSA_EXP16_H
#define SPARSA_EXP16_H

#include "exp_poly.h"

typedef float sp_v16f __attribute__((vector_size(64)));
typedef int sp_v16i __attribute__((vector_size(64)));
typedef unsigned sp_v16u __attribute__((vector_size(64)));

/* *v = e^*v. Through a pointer: vector arguments and results wider than the target's registers
 * would change the calling convention (GCC -Wpsabi). */
static inline void sp_exp16_nonpositive(sp_v16f *v) {
    sp_v16f x = *v;
    const sp_v16f lim = {0};
    const sp_v16i too_small = x < lim - 104.0f;
    x = (sp_v16f)(((sp_v16i)x & ~too_small) | ((sp_v16i)(lim - 104.0f) & too_small));
    sp_v16f n, r, p;
    SP_EXP_REDUCE(x, n, r);
    SP_EXP_POLY(r, p);
    /* 2^n = 2^a · 2^b, a = n/2 rounded toward zero, b = n − a: both within the normal range
     * for n ≥ −151. NaN lanes give garbage scales but stay NaN through the multiply. */
    const sp_v16i ni = __builtin_convertvector(n, sp_v16i);
    const sp_v16i a = ni / 2;
    const sp_v16u ua = (sp_v16u)a, ub = (sp_v16u)ni - ua;
    const sp_v16f sa = (sp_v16f)((ua + 127u) << 23), sb = (sp_v16f)((ub + 127u) << 23);
    const sp_v16f e = (p * sa) * sb;
    *v = (sp_v16f)((sp_v16i)e & ~too_small);
}

#endif
