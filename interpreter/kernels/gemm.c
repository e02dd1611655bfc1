/* gemm.c — y = x·Wᵀ (+ bias) over f32/f16/bf16 weights. Straightforward reference version:
 * rows of W are converted to f32 once per output column block and reused for every row of x. */
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

void sp_weight_row_f32(const void *w, sp_dtype w_dtype, size_t row, size_t cols, float *out) {
    switch (w_dtype) {
    case SP_F32:
        memcpy(out, (const float *)w + row * cols, cols * sizeof(float));
        break;
    case SP_F16: {
        const uint16_t *src = (const uint16_t *)w + row * cols;
        for (size_t c = 0; c < cols; c++) out[c] = sp_f16_to_f32(src[c]);
        break;
    }
    case SP_BF16: {
        const uint16_t *src = (const uint16_t *)w + row * cols;
        for (size_t c = 0; c < cols; c++) out[c] = sp_bf16_to_f32(src[c]);
        break;
    }
    default:
        memset(out, 0, cols * sizeof(float));
        break;
    }
}

void sp_gemm_wt(const float *x, size_t m, size_t k, const void *w, sp_dtype w_dtype, size_t n,
                const float *bias, float *y) {
    #pragma omp parallel
    {
        float *wrow = malloc(k * sizeof(float));
        #pragma omp for schedule(static)
        for (size_t j = 0; j < n; j++) {
            sp_weight_row_f32(w, w_dtype, j, k, wrow);
            for (size_t i = 0; i < m; i++) {
                const float *xi = x + i * k;
                float acc = 0.0f;
                for (size_t c = 0; c < k; c++) acc += xi[c] * wrow[c];
                y[i * n + j] = acc + (bias ? bias[j] : 0.0f);
            }
        }
        free(wrow);
    }
}
