/* ops_common.c — what several ops share: activations that are not inline (interp_internal.h
 * has the inline ones), and a weight's bf16 form for the CPU's bf16 compute. */
#include <math.h>

#include "gemm_bf16.h"
#include "interp_internal.h"

/* 0.5·x·(1 + erf(x/√2)) — PyTorch's exact gelu. */
float sp_gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }

int sp_weight_bf16(const sp_weight *w, const uint16_t **out, uint16_t **copy, sp_error *err) {
    if (w->dtype == SP_BF16) {
        *out = w->data;
        return SP_OK;
    }
    *copy = sp_weight_to_bf16(w->data, w->dtype, (size_t)w->rows, (size_t)w->cols);
    if (!*copy) return sp_fail(err, SP_ERR_RUNTIME, "out of memory for the bf16 weights");
    *out = *copy;
    return SP_OK;
}
