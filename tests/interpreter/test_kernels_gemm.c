/* test_kernels_gemm.c — sp_gemm_wt against a double-precision reference computed here, for
 * every back end the CPU has, every weight dtype, odd shapes on both sides of every blocking
 * boundary; and bit-identical results for 1 and 2 threads. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "sparsa_format.h"

static const char *dt_name(sp_dtype dt) {
    return dt == SP_F32 ? "f32" : dt == SP_F16 ? "f16" : "bf16";
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

/* Random weights [n][k] stored as dt (+ one element of offset so W is misaligned), and the
 * same values as f32 after rounding to dt. */
static void *make_w(size_t n, size_t k, sp_dtype dt, float *wf, void **base) {
    size_t esz = dt == SP_F32 ? 4 : 2;
    char *buf = malloc((n * k + 1) * esz);
    cr_assert_not_null(buf);
    *base = buf;
    char *w = buf + esz;
    for (size_t i = 0; i < n * k; i++) {
        float v = rnd();
        if (dt == SP_F32) {
            memcpy(w + i * 4, &v, 4);
            wf[i] = v;
        } else if (dt == SP_F16) {
            uint16_t h = sp_f32_to_f16(v);
            memcpy(w + i * 2, &h, 2);
            wf[i] = sp_f16_to_f32(h);
        } else {
            uint16_t h = sp_f32_to_bf16(v);
            memcpy(w + i * 2, &h, 2);
            wf[i] = sp_bf16_to_f32(h);
        }
    }
    return w;
}

/* Checks one product against the double reference; tolerance k·ε·Σ|x||w| per element. */
static void check_product(size_t m, size_t k, size_t n, sp_dtype dt, int with_bias) {
    float *xbuf = malloc((m * k + 1) * sizeof(float)), *x = xbuf + 1;
    float *wf = malloc((n * k + 1) * sizeof(float));
    float *bias = malloc((n + 1) * sizeof(float));
    float *y = malloc((m * n + 1) * sizeof(float));
    cr_assert(xbuf && wf && bias && y);
    for (size_t i = 0; i < m * k; i++) x[i] = rnd();
    for (size_t j = 0; j < n; j++) bias[j] = rnd();
    void *wbase;
    void *w = make_w(n, k, dt, wf, &wbase);
    for (size_t i = 0; i < m * n; i++) y[i] = NAN; /* every element must be written */
    sp_gemm_wt(x, m, k, w, dt, n, with_bias ? bias : NULL, y);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double ref = with_bias ? bias[j] : 0.0, mag = with_bias ? fabs(bias[j]) : 0.0;
            for (size_t p = 0; p < k; p++) {
                ref += (double)x[i * k + p] * (double)wf[j * k + p];
                mag += fabs((double)x[i * k + p] * (double)wf[j * k + p]);
            }
            double tol = (double)(k + 2) * FLT_EPSILON * mag + 1e-30;
            double got = y[i * n + j];
            cr_assert(fabs(got - ref) <= tol,
                      "%s %s m=%zu k=%zu n=%zu bias=%d: y[%zu][%zu] = %.9g, expected %.9g (tol %.3g)",
                      sp_gemm_isa(), dt_name(dt), m, k, n, with_bias, i, j, got, ref, tol);
        }
    free(xbuf);
    free(wf);
    free(bias);
    free(y);
    free(wbase);
}

static const size_t shapes[][3] = {
    {1, 1, 1},     {1, 7, 5},      {1, 300, 77},  {2, 33, 17},   {3, 100, 9},
    {4, 5, 3},     {5, 16, 16},    {13, 17, 31},  {14, 32, 32},  {15, 256, 33},
    {29, 257, 65}, {64, 300, 70},  {100, 513, 129}, {170, 64, 300}, {3, 1000, 40},
    {30, 600, 8},  {200, 40, 520},
};

static void check_all(const char *isa) {
    if (sp_gemm_set_isa(isa) != 0) return; /* the CPU lacks it (auto_backend checks the choice) */
    cr_assert_str_eq(sp_gemm_isa(), isa);
    const sp_dtype dts[] = {SP_F32, SP_F16, SP_BF16};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t d = 0; d < 3; d++)
            check_product(shapes[s][0], shapes[s][1], shapes[s][2], dts[d], (int)((s + d) & 1));
}

Test(kernels_gemm, scalar_matches_reference) { check_all("scalar"); }
Test(kernels_gemm, avx2_matches_reference) { check_all("avx2"); }
Test(kernels_gemm, avx512_matches_reference) { check_all("avx512"); }

Test(kernels_gemm, auto_backend_is_the_best_available) {
    cr_assert_eq(sp_gemm_set_isa("auto"), 0);
    const char *best = sp_gemm_isa();
    if (sp_gemm_set_isa("avx512") == 0) cr_assert_str_eq(best, "avx512");
    else if (sp_gemm_set_isa("avx2") == 0) cr_assert_str_eq(best, "avx2");
    else cr_assert_str_eq(best, "scalar");
    cr_assert_eq(sp_gemm_set_isa("no-such-isa"), -1);
}

Test(kernels_gemm, empty_k_gives_bias) {
    float bias[3] = {1.5f, -2.0f, 0.25f}, y[6];
    float x[1] = {0}, w[1] = {0};
    sp_gemm_wt(x, 2, 0, w, SP_F32, 3, bias, y);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) cr_assert_eq(y[i * 3 + j], bias[j]);
    sp_gemm_wt(x, 2, 0, w, SP_F32, 3, NULL, y);
    for (int i = 0; i < 6; i++) cr_assert_eq(y[i], 0.0f);
}

/* 1 and 2 threads must agree bit for bit, on both the row path and the blocked path. */
static void check_threads(const char *isa) {
    if (sp_gemm_set_isa(isa) != 0) return;
    static const size_t big[][3] = {{1, 700, 300}, {3, 512, 130}, {97, 300, 100},
                                    {300, 130, 40}, {40, 513, 300}};
    const sp_dtype dts[] = {SP_F32, SP_F16, SP_BF16};
    for (size_t s = 0; s < sizeof big / sizeof *big; s++)
        for (size_t d = 0; d < 3; d++) {
            size_t m = big[s][0], k = big[s][1], n = big[s][2];
            float *x = malloc(m * k * sizeof(float)), *wf = malloc(n * k * sizeof(float));
            float *b = malloc(n * sizeof(float));
            float *y1 = malloc(m * n * sizeof(float)), *y2 = malloc(m * n * sizeof(float));
            for (size_t i = 0; i < m * k; i++) x[i] = rnd();
            for (size_t j = 0; j < n; j++) b[j] = rnd();
            void *wbase, *w = make_w(n, k, dts[d], wf, &wbase);
            omp_set_num_threads(1);
            sp_gemm_wt(x, m, k, w, dts[d], n, b, y1);
            omp_set_num_threads(2);
            sp_gemm_wt(x, m, k, w, dts[d], n, b, y2);
            cr_assert(memcmp(y1, y2, m * n * sizeof(float)) == 0,
                      "%s %s m=%zu k=%zu n=%zu: 1 and 2 threads differ", isa,
                      dt_name(dts[d]), m, k, n);
            free(x); free(wf); free(b); free(y1); free(y2); free(wbase);
        }
}

Test(kernels_gemm, threads_bit_identical_avx512) { check_threads("avx512"); }
Test(kernels_gemm, threads_bit_identical_avx2) { check_threads("avx2"); }
Test(kernels_gemm, threads_bit_identical_scalar) { check_threads("scalar"); }

Test(kernels_gemm, weight_row_conversion) {
    const sp_dtype dts[] = {SP_F32, SP_F16, SP_BF16};
    for (size_t d = 0; d < 3; d++) {
        size_t rows = 3, cols = 37;
        float wf[3 * 37], out[37];
        void *base, *w = make_w(rows, cols, dts[d], wf, &base);
        sp_weight_row_f32(w, dts[d], 2, cols, out);
        cr_assert(memcmp(out, wf + 2 * cols, sizeof out) == 0, "%s row differs",
                  dt_name(dts[d]));
        free(base);
    }
}
