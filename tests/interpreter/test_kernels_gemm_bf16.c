/* test_kernels_gemm_bf16.c — the bf16 products (gemm_bf16.h) against a double-precision
 * reference on the operands rounded to bf16 here: odd shapes on both sides of every blocking
 * boundary (k odd and even, tails of pairs), with and without bias, the small-m and the packed
 * path; bit-identical results for 1 and 2 threads; the one-time bf16 copy of f32/f16/bf16
 * weights; the same on the AMX tiles where the CPU has them. Skipped, with the reason, on a CPU
 * without AVX512_BF16 (or AMX, for the AMX cases). */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_bf16.h"
#include "sparsa_format.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static float rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static float bf(float v) { return sp_bf16_to_f32(sp_f32_to_bf16(v)); }

static void need_bf16(void) {
    if (!sp_gemm_bf16_available())
        cr_skip("this CPU has no AVX512_BF16: the bf16 products are refused here (--precision bf16 says so)");
}

/* One product against the reference; tolerance k·2⁻²³·Σ|x||w| per element (the products of
 * bf16 pairs are exact in fp32, only the fp32 sums round). NaN fails. */
static void check_product(size_t m, size_t k, size_t n, int with_bias) {
    float *x = malloc((m * k + 1) * sizeof(float)), *bias = malloc((n + 1) * sizeof(float));
    float *y = malloc((m * n + 1) * sizeof(float));
    uint16_t *w = malloc((n * k + 1) * sizeof(uint16_t));
    cr_assert(x && bias && y && w);
    for (size_t i = 0; i < m * k; i++) x[i] = rnd();
    for (size_t i = 0; i < n * k; i++) w[i] = sp_f32_to_bf16(rnd());
    for (size_t j = 0; j < n; j++) bias[j] = rnd();
    sp_gemm_wt_bf16(x, m, k, w, n, with_bias ? bias : NULL, y);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = with_bias ? bias[j] : 0.0, mag = fabs(s);
            for (size_t p = 0; p < k; p++) {
                double t = (double)bf(x[i * k + p]) * (double)sp_bf16_to_f32(w[j * k + p]);
                s += t;
                mag += fabs(t);
            }
            double tol = (double)(k + 2) * 1.2e-7 * mag + 1e-30;
            double got = y[i * n + j];
            cr_assert(fabs(got - s) <= tol,
                      "m %zu k %zu n %zu bias %d: y[%zu][%zu] = %.9g, want %.9g (tol %.3g)", m, k, n,
                      with_bias, i, j, got, s, tol);
        }
    free(x);
    free(bias);
    free(y);
    free(w);
}

/* Every m × k × n of the three lists (each ending in 0), bias on every other product. */
static void check_sweep(const size_t *ms, const size_t *ks, const size_t *ns) {
    for (size_t a = 0; ms[a]; a++)
        for (size_t b = 0; ks[b]; b++)
            for (size_t c = 0; ns[c]; c++) check_product(ms[a], ks[b], ns[c], (a + b + c) % 2);
}

Test(kernels_gemm_bf16, matches_the_reference_on_odd_shapes) {
    need_bf16();
    /* the AVX512_BF16 engine, also on a CPU whose default is AMX */
    cr_assert_eq(sp_gemm_bf16_set_engine("avx512_bf16"), 0);
    static const size_t ms[] = {1, 2, 3, 4, 13, 14, 15, 29, 170, 0};
    static const size_t ks[] = {1, 2, 3, 31, 32, 33, 255, 256, 257, 513, 0};
    static const size_t ns[] = {1, 7, 8, 9, 31, 32, 33, 65, 260, 0};
    check_sweep(ms, ks, ns);
}

Test(kernels_gemm_bf16, operands_are_rounded_to_bf16_not_truncated) {
    need_bf16();
    /* x = 1 + 3·2⁻⁹ rounds up to 1 + 2⁻⁷ in bf16 (truncation would give 1 + 2⁻⁸) */
    float x[2] = {1.0f + 3.0f / 512.0f, 0.0f}, y = 0;
    uint16_t w[2] = {sp_f32_to_bf16(1.0f), sp_f32_to_bf16(0.0f)};
    sp_gemm_wt_bf16(x, 1, 2, w, 1, NULL, &y);
    cr_assert_eq(y, 1.0f + 1.0f / 128.0f, "got %.9g", y);
}

static void threads_case(size_t m, size_t k, size_t n) {
    float *x = malloc(m * k * sizeof(float));
    float *y1 = malloc(m * n * sizeof(float)), *y2 = malloc(m * n * sizeof(float));
    uint16_t *w = malloc(n * k * sizeof(uint16_t));
    cr_assert(x && y1 && y2 && w);
    for (size_t i = 0; i < m * k; i++) x[i] = rnd();
    for (size_t i = 0; i < n * k; i++) w[i] = sp_f32_to_bf16(rnd());
    int keep = omp_get_max_threads();
    omp_set_num_threads(1);
    sp_gemm_wt_bf16(x, m, k, w, n, NULL, y1);
    omp_set_num_threads(2);
    sp_gemm_wt_bf16(x, m, k, w, n, NULL, y2);
    omp_set_num_threads(keep);
    cr_assert(memcmp(y1, y2, m * n * sizeof(float)) == 0, "m %zu k %zu n %zu: 1 and 2 threads differ", m, k, n);
    free(x);
    free(y1);
    free(y2);
    free(w);
}

Test(kernels_gemm_bf16, one_and_two_threads_give_the_same_bits) {
    need_bf16();
    if (!strcmp(sp_gemm_bf16_engine(), "amx")) cr_assert_eq(sp_gemm_bf16_set_engine("avx512_bf16"), 0);
    threads_case(1, 512, 1536);
    threads_case(3, 300, 1000);
    threads_case(200, 512, 1536);
    threads_case(500, 1536, 64);
}

static void need_amx(void) {
    need_bf16();
    if (sp_gemm_bf16_set_engine("amx") != 0)
        cr_skip("this CPU has no AMX-BF16 (or Linux does not grant it): the AMX kernel cannot run here");
    cr_assert_str_eq(sp_gemm_bf16_engine(), "amx");
}

Test(kernels_gemm_bf16, amx_matches_the_reference_on_odd_shapes) {
    need_amx();
    /* rows on both sides of 16 and 32 (one and two row tiles), depths on both sides of a
     * 16-pair tile and of the 256-input k block */
    static const size_t ms[] = {4, 15, 16, 17, 31, 32, 33, 64, 170, 0};
    static const size_t ks[] = {1, 2, 31, 32, 33, 63, 64, 65, 255, 256, 257, 513, 0};
    static const size_t ns[] = {1, 15, 16, 17, 32, 33, 65, 260, 0};
    check_sweep(ms, ks, ns);
}

Test(kernels_gemm_bf16, amx_one_and_two_threads_give_the_same_bits) {
    need_amx();
    threads_case(200, 512, 1536);
    threads_case(500, 1536, 64);
    threads_case(97, 300, 100);
}

Test(kernels_gemm_bf16, engines_are_named_and_checked) {
    const char *e = sp_gemm_bf16_engine();
    cr_assert(!strcmp(e, "amx") || !strcmp(e, "avx512_bf16") || !strcmp(e, "none"), "engine %s", e);
    cr_assert_eq(!strcmp(e, "none"), !sp_gemm_bf16_available());
    cr_assert_eq(sp_gemm_bf16_set_engine("no-such-engine"), -1);
    cr_assert_eq(sp_gemm_bf16_set_engine(NULL), -1);
}

Test(kernels_gemm_bf16, the_weight_copy_rounds_to_nearest_even) {
    float f[4] = {1.0f + 3.0f / 512.0f, -2.5f, 1e-3f, 65504.0f};
    uint16_t h[4], b[4];
    for (int i = 0; i < 4; i++) {
        h[i] = sp_f32_to_f16(f[i]);
        b[i] = sp_f32_to_bf16(f[i]);
    }
    uint16_t *from_f32 = sp_weight_to_bf16(f, SP_F32, 2, 2), *from_f16 = sp_weight_to_bf16(h, SP_F16, 2, 2);
    uint16_t *from_bf16 = sp_weight_to_bf16(b, SP_BF16, 2, 2);
    cr_assert(from_f32 && from_f16 && from_bf16);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(from_f32[i], b[i], "f32 element %d", i);
        cr_assert_eq(from_f16[i], sp_f32_to_bf16(sp_f16_to_f32(h[i])), "f16 element %d", i);
        cr_assert_eq(from_bf16[i], b[i], "bf16 element %d", i);
    }
    cr_assert_eq(from_f32[0], 0x3f81, "1 + 3/512 rounds up to 0x3f81, got %#x", from_f32[0]);
    free(from_f32);
    free(from_f16);
    free(from_bf16);
}
