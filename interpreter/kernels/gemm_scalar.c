/* gemm_scalar.c — the portable back end: plain C, used where no x86 vector unit is available
 * (or when SPARSA_GEMM_ISA=scalar). One W row is converted to f32 at a time and dotted with
 * every row of x; each sum runs over k in increasing order. */
#include <string.h>

#include "gemm_internal.h"

void sp_gemm_convert_scalar(const void *src, sp_dtype dt, size_t len, float *dst) {
    switch (dt) {
    case SP_F32:
        memcpy(dst, src, len * sizeof(float));
        break;
    case SP_F16: {
        const uint16_t *s = src;
        for (size_t i = 0; i < len; i++) dst[i] = sp_f16_to_f32(s[i]);
        break;
    }
    case SP_BF16: {
        const uint16_t *s = src;
        for (size_t i = 0; i < len; i++) dst[i] = sp_bf16_to_f32(s[i]);
        break;
    }
    default:
        memset(dst, 0, len * sizeof(float));
        break;
    }
}

/* Converts in the inner loop (no buffer, so nothing here can fail). */
static void rows_scalar(const float *x, size_t m, size_t k, const void *w, sp_dtype dt,
                        size_t j0, size_t j1, size_t n, float *y) {
    for (size_t j = j0; j < j1; j++) {
        for (size_t i = 0; i < m; i++) {
            const float *xi = x + i * k;
            float acc = 0.0f;
            if (dt == SP_F32) {
                const float *wj = (const float *)w + j * k;
                for (size_t p = 0; p < k; p++) acc += xi[p] * wj[p];
            } else if (dt == SP_F16) {
                const uint16_t *wj = (const uint16_t *)w + j * k;
                for (size_t p = 0; p < k; p++) acc += xi[p] * sp_f16_to_f32(wj[p]);
            } else if (dt == SP_BF16) {
                const uint16_t *wj = (const uint16_t *)w + j * k;
                for (size_t p = 0; p < k; p++) acc += xi[p] * sp_bf16_to_f32(wj[p]);
            }
            y[i * n + j] = acc;
        }
    }
}

const sp_gemm_backend sp_gemm_backend_scalar = {
    .name = "scalar", .mr = 0, .nr = 0, .kernel = NULL,
    .convert = sp_gemm_convert_scalar, .rows = rows_scalar,
};
