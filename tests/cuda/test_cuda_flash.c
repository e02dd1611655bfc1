/* test_cuda_flash.c — the bf16 softmax fast path (cuda/cu_attn_flash_bf16.cu) against the CPU's
 * sp_attention_forward on the bf16-rounded cache: within 2e-2 × max(1, |o|) (q′ and the weights
 * rounded to bf16, fp32 accumulation), every output finite unless the CPU's is NaN. Sizes that
 * are and are not multiples of the 128-row blocks and 64-key tiles, kv_heads < heads, head sizes
 * 64 and 128, query scales, a causal continuation (q0 > 0), non-causal calls, a NaN query row.
 * Each case runs the default kernel (SPARSA_CUDA_FLASH empty) and every kernel of the fast path
 * (SPARSA_CUDA_FLASH=g|a|h, k|s|u, n|o|y|z), checks that the call went there
 * (cu_attn_flash_launches), and runs once more with the fast path off (SPARSA_CUDA_FLASH=0), the
 * generic bf16 kernel; SPARSA_TEST_FLASH_KERNELS=<letters> runs only those and the default (to
 * tell which kernel fails). Calls the fast path must leave alone
 * (statistics, decode, ALiBi) are checked too.
 *
 * Built with the CUDA headers (make test-cuda): the tests run on a GPU and skip, saying why,
 * on a machine without one. Built without them (plain make test), one test skips saying so.
 */
#include <criterion/criterion.h>

#if defined(__has_include)
#if __has_include(<cuda_runtime.h>) && __has_include("cu_attn_flash.h")
#define HAVE_CUDA_HEADERS 1
#endif
#endif

#ifndef HAVE_CUDA_HEADERS
Test(cuda_flash, built_without_cuda) {
    cr_skip_test("built without the CUDA headers: make test-cuda builds these tests");
}
#else

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "cu_attn_flash.h"

#define TU_CUDA_SEED 0x2545F4914F6CDD1Dull
#include "tu_cuda.h"

typedef struct fcase {
    int H, Hk, d;
    size_t nq, nk;            /* query rows are positions nk − nq … nk − 1 */
    int qscale, noncausal, alibi, stats;
    size_t nan_row;           /* > 0: element 0 of head 0 of query row nan_row − 1 is NaN */
    int want_fast;            /* the call must (1) or must not (0) take the fast path */
} fcase;

static void *dev_copy(const void *host, size_t bytes) {
    void *d = NULL;
    CK(cudaMalloc(&d, bytes ? bytes : 1));
    if (host && bytes) CK(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice));
    else CK(cudaMemset(d, 0, bytes ? bytes : 1));
    return d;
}

/* The GPU's output of the case (fast path on or off) into got [nq][H·d]. */
static void gpu_run(const fcase *c, sp_bk_attention *bp, const float *q, const float *k,
                    const float *v, const float *qs, const float *slopes, float *got,
                    const char *kernel) {
    const size_t nq = c->nq, nk = c->nk, no = nq * c->H * c->d, nkv = nk * c->Hk * c->d;
    const int fast_on = strcmp(kernel, "0") != 0;
    cr_assert(setenv("SPARSA_CUDA_FLASH", kernel, 1) == 0);
    cu_kv kv;
    CK(cu_kv_alloc(&kv, bp, nk, 1));
    float *dk = dev_copy(k, nkv * sizeof(float)), *dv = dev_copy(v, nkv * sizeof(float));
    CK(cu_kv_append(&kv, dk, dv, 0, nk, 0));
    cu_attn_call call = {
        .p = bp,
        .slopes = c->alibi ? dev_copy(slopes, c->H * sizeof(float)) : NULL,
        .q = dev_copy(q, no * sizeof(float)),
        .qscale = c->qscale ? dev_copy(qs, nq * c->H * sizeof(float)) : NULL,
        .kv = &kv, .q0 = nk - nq, .nq = nq, .nk = nk,
        .out = dev_copy(NULL, no * sizeof(float)),
        .stats = c->stats ? dev_copy(NULL, c->H * sizeof(cu_attn_stats)) : NULL,
        .precision = SP_PREC_BF16,
        .workspace = dev_copy(NULL, cu_attention_workspace(bp, nq, nk, SP_PREC_BF16)),
        .stream = 0,
    };
    CK(cudaMemset(call.out, 0xff, no * sizeof(float))); /* NaN: an output never written fails */
    const unsigned long long before = cu_attn_flash_launches();
    CK(cu_attention_forward(&call));
    CK(cudaDeviceSynchronize());
    const int took = cu_attn_flash_launches() != before;
    cr_assert_eq(took, fast_on && c->want_fast, "fast path %s %s (H%d/%d d%d nq%zu nk%zu)",
                 kernel, took ? "taken" : "not taken", c->H, c->Hk, c->d, nq, nk);
    CK(cudaMemcpy(got, call.out, no * sizeof(float), cudaMemcpyDeviceToHost));
    cudaFree((void *)call.slopes), cudaFree((void *)call.q), cudaFree((void *)call.qscale);
    cudaFree(call.out), cudaFree(call.stats), cudaFree(call.workspace), cudaFree(dk), cudaFree(dv);
    cu_kv_free(&kv);
    unsetenv("SPARSA_CUDA_FLASH");
}

/* Largest error of got against want (NaN exactly where want is NaN), asserting the tolerance. */
static double compare(const fcase *c, const float *got, const float *want, const char *what) {
    const size_t no = c->nq * c->H * c->d;
    double worst = 0.0;
    for (size_t i = 0; i < no; i++) {
        if (isnan(want[i])) {
            cr_assert(isnan(got[i]), "%s out[%zu]: got %.9g, want NaN", what, i, got[i]);
            continue;
        }
        const double err = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        cr_assert(isfinite(got[i]) && err <= 2e-2,
                  "%s H%d/%d d%d nq%zu nk%zu: out[%zu] (row %zu, head %zu) got %.9g want %.9g",
                  what, c->H, c->Hk, c->d, c->nq, c->nk, i, i / ((size_t)c->H * c->d),
                  i / c->d % c->H, got[i], want[i]);
        worst = fmax(worst, err);
    }
    return worst;
}

static void run_case(fcase c) {
    need_gpu();
    const size_t nq = c.nq, nk = c.nk, nqel = nq * c.H * c.d, nkv = nk * c.Hk * c.d;
    float *q = malloc(nqel * 4), *k = malloc(nkv * 4), *v = malloc(nkv * 4);
    float *kr = malloc(nkv * 4), *vr = malloc(nkv * 4), *qs = malloc(nq * c.H * 4);
    float *slopes = malloc(c.H * 4), *want = malloc(nqel * 4), *got = malloc(nqel * 4);
    cr_assert(q && k && v && kr && vr && qs && slopes && want && got);
    for (size_t i = 0; i < nqel; i++) q[i] = 3.0f * urand();
    for (size_t i = 0; i < nkv; i++) k[i] = urand(), kr[i] = bf16_round(k[i]);
    for (size_t i = 0; i < nkv; i++) v[i] = urand(), vr[i] = bf16_round(v[i]);
    for (size_t i = 0; i < nq * c.H; i++) qs[i] = 1.25f + 0.75f * urand();
    for (int h = 0; h < c.H; h++) slopes[h] = h < c.H / 2 ? 1.0f / (float)(h + 1) : 0.0f;
    if (c.nan_row) q[(c.nan_row - 1) * c.H * c.d] = NAN;
    sp_attn_params ap = {.heads = c.H, .kv_heads = c.Hk, .head_dim = c.d, .value_dim = c.d,
                         .scale = 1.0f / sqrtf((float)c.d), .causal = !c.noncausal,
                         .norm = sp_norm_find("softmax"), .alibi_slopes = c.alibi ? slopes : NULL};
    sp_bk_attention bp = {.heads = c.H, .kv_heads = c.Hk, .head_dim = c.d, .value_dim = c.d,
                          .scale = ap.scale, .causal = ap.causal, .normalizer = "softmax"};
    sp_attention_forward(&ap, q, kr, vr, c.qscale ? qs : NULL, nk - nq, nq, nk, want, NULL);
    /* every kernel of the fast path (the head-64 shapes; at 128 they are one), then the
     * generic kernel */
    const char *kernels[] = {"", "g", "a", "h", "k", "s", "u", "n", "o", "y", "z", "0"};
    const int nk_all = (int)(sizeof kernels / sizeof *kernels);
    char line[400];
    int at = snprintf(line, sizeof line, "cuda flash H%-2d/%-2d d%-3d nq%-5zu nk%-5zu%s%s%s:", c.H,
                      c.Hk, c.d, nq, nk, c.qscale ? " qscale" : "",
                      c.noncausal ? " noncausal" : "", c.want_fast ? "" : " (not fast)");
    const char *only = getenv("SPARSA_TEST_FLASH_KERNELS"); /* a subset, to isolate a kernel */
    for (int i = 0; i < nk_all; i++) {
        if (c.d != 64 && i > 1 && i < nk_all - 1) continue;
        if (only && kernels[i][0] && !strchr(only, kernels[i][0])) continue;
        const char *name = kernels[i][0] ? kernels[i] : "default";
        gpu_run(&c, &bp, q, k, v, qs, slopes, got, kernels[i]);
        const double err = compare(&c, got, want, name);
        at += snprintf(line + at, sizeof line - at, " %s %.3g", name, err);
    }
    printf("%s\n", line);
    free(q), free(k), free(v), free(kr), free(vr), free(qs), free(slopes), free(want), free(got);
}

Test(cuda_flash, d64_tile_multiples) {
    run_case((fcase){.H = 4, .Hk = 4, .d = 64, .nq = 256, .nk = 256, .want_fast = 1});
    run_case((fcase){.H = 2, .Hk = 2, .d = 64, .nq = 64, .nk = 64, .want_fast = 1});
}

Test(cuda_flash, d64_ragged_gqa_qscale) {
    run_case((fcase){.H = 12, .Hk = 12, .d = 64, .nq = 1000, .nk = 1000, .want_fast = 1});
    run_case((fcase){.H = 8, .Hk = 2, .d = 64, .nq = 777, .nk = 777, .qscale = 1,
                     .want_fast = 1});
}

Test(cuda_flash, d128_gqa_qscale) {
    run_case((fcase){.H = 6, .Hk = 3, .d = 128, .nq = 500, .nk = 500, .qscale = 1,
                     .want_fast = 1});
    run_case((fcase){.H = 4, .Hk = 1, .d = 128, .nq = 130, .nk = 1100, .want_fast = 1});
}

/* Rows that continue a cached prefix: the diagonal is not at the tiles' corners. */
Test(cuda_flash, causal_continuation) {
    run_case((fcase){.H = 8, .Hk = 4, .d = 64, .nq = 300, .nk = 1000, .want_fast = 1});
    run_case((fcase){.H = 4, .Hk = 2, .d = 64, .nq = 65, .nk = 2100, .qscale = 1,
                     .want_fast = 1});
}

Test(cuda_flash, noncausal) {
    run_case((fcase){.H = 4, .Hk = 2, .d = 64, .nq = 200, .nk = 333, .noncausal = 1,
                     .want_fast = 1});
    run_case((fcase){.H = 4, .Hk = 4, .d = 128, .nq = 100, .nk = 70, .noncausal = 1,
                     .want_fast = 1});
}

Test(cuda_flash, long_rows) {
    run_case((fcase){.H = 4, .Hk = 2, .d = 64, .nq = 2500, .nk = 2500, .want_fast = 1});
}

/* A NaN in one query row makes that row's head NaN and leaves every other row as it was. */
Test(cuda_flash, nan_query_row) {
    run_case((fcase){.H = 4, .Hk = 2, .d = 64, .nq = 200, .nk = 300, .nan_row = 77,
                     .want_fast = 1});
}

/* Statistics, decode rows and ALiBi stay on the generic kernel. */
Test(cuda_flash, left_to_generic) {
    run_case((fcase){.H = 4, .Hk = 2, .d = 64, .nq = 300, .nk = 300, .stats = 1});
    run_case((fcase){.H = 4, .Hk = 2, .d = 64, .nq = 1, .nk = 900});
    run_case((fcase){.H = 4, .Hk = 2, .d = 64, .nq = 300, .nk = 300, .alibi = 1});
}

#endif
