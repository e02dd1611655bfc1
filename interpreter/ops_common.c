/* ops_common.c — activations that are not inline (interp_internal.h has the inline ones). */
#include <math.h>

#include "interp_internal.h"

/* 0.5·x·(1 + erf(x/√2)) — PyTorch's exact gelu. */
float sp_gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }
