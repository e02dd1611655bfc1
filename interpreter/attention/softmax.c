/* softmax.c — the dense normaliser: p_j = exp(s_j − max) / Σ exp(s_k − max). */
#include <math.h>
#include "attention_internal.h"

void sp__softmax_row(const float *s, size_t n, float *w) {
    float m = s[0];
#pragma omp simd reduction(max : m)
    for (size_t j = 1; j < n; j++) m = s[j] > m ? s[j] : m;
    /* The sum is taken in double: with long rows a float running sum would lose digits. */
    double sum = 0.0;
    for (size_t j = 0; j < n; j++) {
        w[j] = expf(s[j] - m);
        sum += w[j];
    }
    float inv = (float)(1.0 / sum);
    for (size_t j = 0; j < n; j++) w[j] *= inv;
}

void sp_softmax(const float *z, size_t n, float *p) {
    if (n == 0) return;
    sp__softmax_row(z, n, p);
}
