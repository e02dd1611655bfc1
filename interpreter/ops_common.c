/* ops_common.c — scalar activations shared by the ops, written as the PyTorch reference
 * defines them (fp32). */
#include <math.h>

#include "interp_internal.h"

/* 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) — PyTorch's gelu(approximate='tanh'). */
float sp_gelu_tanh(float x) {
    const float k = 0.7978845608028654f;
    float inner = k * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(inner));
}

/* 0.5·x·(1 + erf(x/√2)). */
float sp_gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }

float sp_silu(float x) { return x / (1.0f + expf(-x)); }
