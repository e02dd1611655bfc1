/* gemm_avx2.c — AVX2+FMA back end (x86-64-v3 machines without AVX-512): a 6×16 microkernel
 * (12 accumulators), F16C/bf16 conversion on 8 lanes, and the small-m path as dot products of
 * 4 W rows at a time. Compiled with target attributes; used only when the CPU has AVX2, FMA
 * and F16C. */
#include "gemm_internal.h"

#if SP_GEMM_X86
#include <immintrin.h>
#include <string.h>

#define SP_AVX2 __attribute__((target("avx2,fma,f16c")))
#define SP_AVX2_INLINE SP_AVX2 __attribute__((always_inline)) static inline

#define MR 6
#define NR 16
#define R6(X) X(0) X(1) X(2) X(3) X(4) X(5)

SP_AVX2 static void kernel_6x16(size_t kc, const float *a, size_t lda, const float *b, float *c,
                                size_t ldc, int accumulate) {
#define DECL(i) __m256 c##i##0, c##i##1;
    R6(DECL)
#undef DECL
    if (accumulate) {
#define LOAD(i) c##i##0 = _mm256_loadu_ps(c + (i) * ldc); \
                c##i##1 = _mm256_loadu_ps(c + (i) * ldc + 8);
        R6(LOAD)
#undef LOAD
    } else {
#define ZERO(i) c##i##0 = _mm256_setzero_ps(); c##i##1 = _mm256_setzero_ps();
        R6(ZERO)
#undef ZERO
    }
#pragma GCC unroll 2
    for (size_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        b += NR;
#define STEP(i) { __m256 ai = _mm256_broadcast_ss(a + (i) * lda); \
                  c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0); \
                  c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1); }
        R6(STEP)
#undef STEP
        a++;
    }
#define STORE(i) _mm256_storeu_ps(c + (i) * ldc, c##i##0); \
                 _mm256_storeu_ps(c + (i) * ldc + 8, c##i##1);
    R6(STORE)
#undef STORE
}

/* 8 weights at w[off..] as f32 (whole vectors; tails go through tail8). */
SP_AVX2_INLINE __m256 load_w(const void *w, sp_dtype dt, size_t off) {
    if (dt == SP_F32) return _mm256_loadu_ps((const float *)w + off);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + off));
    if (dt == SP_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

SP_AVX2 static void convert_avx2(const void *src, sp_dtype dt, size_t len, float *dst) {
    if (dt == SP_F32) {
        memcpy(dst, src, len * sizeof(float));
        return;
    }
    if (dt != SP_F16 && dt != SP_BF16) {
        sp_gemm_convert_scalar(src, dt, len, dst);
        return;
    }
    size_t i = 0;
    for (; i + 8 <= len; i += 8) _mm256_storeu_ps(dst + i, load_w(src, dt, i));
    if (i < len) sp_gemm_convert_scalar((const uint16_t *)src + i, dt, len - i, dst + i);
}

SP_AVX2_INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Tail of a dot product: the last len < 8 elements as zero-padded vectors. */
SP_AVX2_INLINE void tail8(const float *xi, const void *w, sp_dtype dt, size_t off, size_t len,
                          __m256 *xv, __m256 *wv) {
    float xb[8] = {0}, wb[8] = {0};
    memcpy(xb, xi, len * sizeof(float));
    sp_gemm_convert_scalar(dt == SP_F32 ? (const void *)((const float *)w + off)
                                        : (const void *)((const uint16_t *)w + off),
                           dt, len, wb);
    *xv = _mm256_loadu_ps(xb);
    *wv = _mm256_loadu_ps(wb);
}

SP_AVX2_INLINE void dot4(const float *xi, size_t k, const void *w, sp_dtype dt, size_t j0,
                         float *out) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 xv = _mm256_loadu_ps(xi + p);
        s0 = _mm256_fmadd_ps(xv, load_w(w, dt, (j0 + 0) * k + p), s0);
        s1 = _mm256_fmadd_ps(xv, load_w(w, dt, (j0 + 1) * k + p), s1);
        s2 = _mm256_fmadd_ps(xv, load_w(w, dt, (j0 + 2) * k + p), s2);
        s3 = _mm256_fmadd_ps(xv, load_w(w, dt, (j0 + 3) * k + p), s3);
    }
    if (p < k) {
        __m256 xv, wv;
        tail8(xi + p, w, dt, (j0 + 0) * k + p, k - p, &xv, &wv);
        s0 = _mm256_fmadd_ps(xv, wv, s0);
        tail8(xi + p, w, dt, (j0 + 1) * k + p, k - p, &xv, &wv);
        s1 = _mm256_fmadd_ps(xv, wv, s1);
        tail8(xi + p, w, dt, (j0 + 2) * k + p, k - p, &xv, &wv);
        s2 = _mm256_fmadd_ps(xv, wv, s2);
        tail8(xi + p, w, dt, (j0 + 3) * k + p, k - p, &xv, &wv);
        s3 = _mm256_fmadd_ps(xv, wv, s3);
    }
    out[0] = hsum(s0);
    out[1] = hsum(s1);
    out[2] = hsum(s2);
    out[3] = hsum(s3);
}

SP_AVX2_INLINE float dot1(const float *xi, size_t k, const void *w, sp_dtype dt, size_t j) {
    __m256 s = _mm256_setzero_ps();
    size_t p = 0;
    for (; p + 8 <= k; p += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(xi + p), load_w(w, dt, j * k + p), s);
    if (p < k) {
        __m256 xv, wv;
        tail8(xi + p, w, dt, j * k + p, k - p, &xv, &wv);
        s = _mm256_fmadd_ps(xv, wv, s);
    }
    return hsum(s);
}

SP_AVX2_INLINE void rows_t(const float *x, size_t m, size_t k, const void *w, sp_dtype dt,
                           size_t j0, size_t j1, size_t n, float *y) {
    size_t j = j0;
    float o[4];
    for (; j + 4 <= j1; j += 4)
        for (size_t i = 0; i < m; i++) {
            dot4(x + i * k, k, w, dt, j, o);
            memcpy(y + i * n + j, o, sizeof o);
        }
    for (; j < j1; j++)
        for (size_t i = 0; i < m; i++) y[i * n + j] = dot1(x + i * k, k, w, dt, j);
}

SP_AVX2 static void rows_avx2(const float *x, size_t m, size_t k, const void *w, sp_dtype dt,
                              size_t j0, size_t j1, size_t n, float *y) {
    switch (dt) {
    case SP_F32: rows_t(x, m, k, w, SP_F32, j0, j1, n, y); break;
    case SP_F16: rows_t(x, m, k, w, SP_F16, j0, j1, n, y); break;
    case SP_BF16: rows_t(x, m, k, w, SP_BF16, j0, j1, n, y); break;
    default: sp_gemm_backend_scalar.rows(x, m, k, w, dt, j0, j1, n, y); break;
    }
}

const sp_gemm_backend sp_gemm_backend_avx2 = {
    .name = "avx2", .mr = MR, .nr = NR, .kernel = kernel_6x16,
    .convert = convert_avx2, .rows = rows_avx2,
};
#endif
