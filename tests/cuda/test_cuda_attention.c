/* test_cuda_attention.c — the CUDA attention kernels (cuda/cu_attn_*.cu) against the CPU's
 * sp_attention_forward: random q/k/v, several sizes (up to a few thousand rows and keys, 4–12
 * heads, kv_heads < heads, head dims 16 … 256), every normaliser, with and without ALiBi
 * (NAPE: half the heads), query scales, soft cap and window, prefill and decode; fp32 within
 * 1e-4 × max(1, |o|), bf16 (cache and tensor cores) within 2e-2 × max(1, |o|) of the CPU on
 * the bf16-rounded cache. Every output must be finite; a NaN fails every comparison. The
 * statistics (rows, visible keys, support, key tiles and skipped tiles) are compared too.
 * The bf16 α-entmax list pipeline is also run at its edges: flat rows (lists over capacity),
 * rows dominated by one key, tied scores, long rows, large scores, general α.
 *
 * Built with the CUDA headers (make test-cuda): the tests run on a GPU and skip, saying why,
 * on a machine without one. Built without them (plain make test), one test skips saying so.
 */
#include <criterion/criterion.h>

#if defined(__has_include)
#if __has_include(<cuda_runtime.h>) && __has_include("cu_attention.h")
#define HAVE_CUDA_HEADERS 1
#endif
#endif

#ifndef HAVE_CUDA_HEADERS
Test(cuda_attention, built_without_cuda) {
    cr_skip_test("built without the CUDA headers: make test-cuda builds these tests");
}
#else

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "cu_attention.h"
#include "cu_attn_ent_tma.h"

#define TU_CUDA_SEED 0x9E3779B97F4A7C15ull
#include "tu_cuda.h"

/* One case: the op's shape and options, and the call's rows. */
typedef struct tcase {
    const char *norm;
    float alpha;
    int H, Hk, d, dv;
    size_t nq, nk;
    int alibi, qscale, window, noncausal, topk, div2;
    int ties;                 /* > 0: key j repeats key j % ties (scores tied in groups) */
    int exact;                /* q and k exact in bf16 (q' too: the scale is 1/8 at d 64) */
    float softcap, qamp;
    int precision;            /* SP_PREC_FP32 or SP_PREC_BF16 (bf16 cache and kernels) */
    size_t nan_row;           /* > 0: element 0 of head 0 of query row nan_row − 1 is NaN */
} tcase;

/* A device copy of host[0 … bytes), or zeros when host is NULL. */
static void *dev_copy(const void *host, size_t bytes) {
    void *d = NULL;
    CK(cudaMalloc(&d, bytes ? bytes : 1));
    if (host && bytes) CK(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice));
    else CK(cudaMemset(d, 0, bytes ? bytes : 1));
    return d;
}

typedef struct inputs {
    float *q, *k, *v, *qs, *slopes;
} inputs;

static void make_inputs(const tcase *c, inputs *in) {
    const size_t nq = c->nq, nk = c->nk;
    in->q = malloc(nq * c->H * c->d * sizeof(float));
    in->k = malloc(nk * c->Hk * c->d * sizeof(float));
    in->v = malloc(nk * c->Hk * c->dv * sizeof(float));
    in->qs = malloc(nq * c->H * sizeof(float));
    in->slopes = malloc(c->H * sizeof(float));
    cr_assert(in->q && in->k && in->v && in->qs && in->slopes);
    const float qamp = c->qamp > 0 ? c->qamp : 3.0f;
    for (size_t i = 0; i < nq * c->H * c->d; i++) in->q[i] = qamp * urand();
    for (size_t i = 0; i < nk * c->Hk * c->d; i++) in->k[i] = urand();
    for (size_t j = c->ties > 0 ? (size_t)c->ties : nk; j < nk; j++)
        memcpy(in->k + j * c->Hk * c->d, in->k + (j % c->ties) * c->Hk * c->d,
               c->Hk * c->d * sizeof(float));
    for (size_t i = 0; i < nk * c->Hk * c->dv; i++) in->v[i] = urand();
    for (size_t i = 0; i < nq * c->H; i++) in->qs[i] = 1.25f + 0.75f * urand();
    for (int h = 0; h < c->H; h++) in->slopes[h] = h < c->H / 2 ? 1.0f / (float)(h + 1) : 0.0f;
    for (size_t i = 0; c->exact && i < nq * c->H * c->d; i++) in->q[i] = bf16_round(in->q[i]);
    for (size_t i = 0; c->exact && i < nk * c->Hk * c->d; i++) in->k[i] = bf16_round(in->k[i]);
    if (c->nan_row) in->q[(c->nan_row - 1) * c->H * c->d] = NAN;
}

static void free_inputs(inputs *in) {
    free(in->q), free(in->k), free(in->v), free(in->qs), free(in->slopes);
}

static void fill_params(const tcase *c, const inputs *in, sp_attn_params *ap, sp_bk_attention *bp) {
    memset(ap, 0, sizeof *ap);
    memset(bp, 0, sizeof *bp);
    ap->heads = bp->heads = c->H;
    ap->kv_heads = bp->kv_heads = c->Hk;
    ap->head_dim = bp->head_dim = c->d;
    ap->value_dim = bp->value_dim = c->dv;
    ap->scale = bp->scale = 1.0f / sqrtf((float)c->d);
    ap->causal = bp->causal = !c->noncausal;
    ap->window = bp->window = c->window;
    ap->softcap = bp->softcap = c->softcap;
    ap->norm = sp_norm_find(c->norm);
    cr_assert(ap->norm, "normaliser %s", c->norm);
    bp->normalizer = c->norm;
    ap->alpha = bp->alpha = !strcmp(c->norm, "sparsemax") ? 2.0f : c->alpha;
    ap->topk = bp->topk = c->topk;
    ap->topk_div2 = bp->topk_div2 = c->div2;
    bp->before_query = !strcmp(c->norm, "stickbreaking");
    ap->alibi_slopes = bp->alibi_slopes = c->alibi ? in->slopes : NULL;
}

/* Where set, run_case copies the GPU's output there (comparisons of two kernels). */
static float *captured;

/* Runs the case on the CPU and the GPU and compares outputs and statistics. */
static void run_case(const tcase *c) {
    need_gpu();
    inputs in;
    make_inputs(c, &in);
    sp_attn_params ap;
    sp_bk_attention bp;
    fill_params(c, &in, &ap, &bp);
    char why[200];
    cr_assert(cu_attention_supported(&bp, why, sizeof why), "refused: %s", why);
    const int bf16 = c->precision == SP_PREC_BF16;
    const size_t nq = c->nq, nk = c->nk, q0 = nk - nq;
    const size_t nk_el = nk * c->Hk * c->d, nv_el = nk * c->Hk * c->dv;
    float *kr = malloc(nk_el * sizeof(float)), *vr = malloc(nv_el * sizeof(float));
    for (size_t i = 0; i < nk_el; i++) kr[i] = bf16 ? bf16_round(in.k[i]) : in.k[i];
    for (size_t i = 0; i < nv_el; i++) vr[i] = bf16 ? bf16_round(in.v[i]) : in.v[i];
    const size_t no = nq * c->H * c->dv;
    float *want = malloc(no * sizeof(float)), *got = malloc(no * sizeof(float));
    sp_attn_stats *cst = calloc(c->H, sizeof *cst);
    cu_attn_stats *gst = calloc(c->H, sizeof *gst);
    sp_attention_forward(&ap, in.q, kr, vr, c->qscale ? in.qs : NULL, q0, nq, nk, want, cst);

    cu_kv kv;
    CK(cu_kv_alloc(&kv, &bp, nk + 7, bf16));
    float *dk = dev_copy(in.k, nk_el * sizeof(float)), *dvv = dev_copy(in.v, nv_el * sizeof(float));
    const size_t half = nk / 2; /* appended in two pieces */
    CK(cu_kv_append(&kv, dk, dvv, 0, half, 0));
    CK(cu_kv_append(&kv, dk + half * c->Hk * c->d, dvv + half * c->Hk * c->dv, half, nk - half, 0));
    cr_assert(cu_kv_append(&kv, dk, dvv, nk, 8, 0) != cudaSuccess, "append past the end accepted");
    (void)cudaGetLastError();
    const size_t wsb = cu_attention_workspace(&bp, nq, nk, c->precision);
    cu_attn_call call = {
        .p = &bp,
        .slopes = c->alibi ? dev_copy(in.slopes, c->H * sizeof(float)) : NULL,
        .q = dev_copy(in.q, nq * c->H * c->d * sizeof(float)),
        .qscale = c->qscale ? dev_copy(in.qs, nq * c->H * sizeof(float)) : NULL,
        .kv = &kv, .q0 = q0, .nq = nq, .nk = nk,
        .out = dev_copy(NULL, no * sizeof(float)),
        .stats = dev_copy(gst, c->H * sizeof *gst),
        .precision = c->precision,
        .workspace = dev_copy(NULL, wsb),
        .stream = 0,
    };
    CK(cudaMemset(call.out, 0xff, no * sizeof(float))); /* NaN: an output never written fails */
    CK(cu_attention_forward(&call));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(got, call.out, no * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gst, call.stats, c->H * sizeof *gst, cudaMemcpyDeviceToHost));

    if (captured) memcpy(captured, got, no * sizeof(float));
    const double tol = bf16 ? 2e-2 : 1e-4;
    double worst = 0.0;
    for (size_t i = 0; i < no; i++) {
        if (isnan(want[i])) { /* a NaN score makes its row NaN, as on the CPU */
            cr_assert(isnan(got[i]), "out[%zu]: got %.9g, want NaN", i, got[i]);
            continue;
        }
        const double err = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        cr_assert(isfinite(got[i]) && err <= tol,
                  "%s α=%g H%d/%d d%d nq%zu nk%zu: out[%zu] (row %zu, head %zu) got %.9g want %.9g",
                  c->norm, (double)ap.alpha, c->H, c->Hk, c->d, nq, nk, i, i / (c->H * c->dv),
                  i / c->dv % c->H, got[i], want[i]);
        worst = fmax(worst, err);
    }
    /* keys at the threshold may flip with rounding: 1% of the counts in fp32, 10% in bf16,
     * 0.2% where q' and k are exact in bf16 (the scores differ only in their sums' rounding) */
    const double slack = c->exact ? 0.002 : bf16 ? 0.1 : 0.01;
    for (int h = 0; h < c->H; h++) {
        cr_assert_eq(gst[h].rows, cst[h].rows, "head %d rows", h);
        cr_assert_eq(gst[h].visible, cst[h].visible, "head %d visible", h);
        const double ds = fabs((double)gst[h].support - (double)cst[h].support);
        cr_assert(ds <= slack * (double)cst[h].support + 2.0, "head %d support %llu vs %llu", h,
                  gst[h].support, (unsigned long long)cst[h].support);
        if (ap.norm && (!strcmp(c->norm, "entmax") || !strcmp(c->norm, "sparsemax"))) {
            cr_assert_eq(gst[h].tiles, cst[h].tiles, "head %d tiles", h);
            const double dt = fabs((double)gst[h].tiles_skipped - (double)cst[h].tiles_skipped);
            cr_assert(dt <= slack * (double)cst[h].tiles + 2.0, "head %d skipped %llu vs %llu", h,
                      gst[h].tiles_skipped, (unsigned long long)cst[h].tiles_skipped);
        }
    }
    printf("cuda attention %-16s a=%-4g H%-2d/%-2d d%-3d nq%-5zu nk%-5zu %s: max rel err %.3g\n",
           c->norm, (double)ap.alpha, c->H, c->Hk, c->d, nq, nk, bf16 ? "bf16" : "fp32", worst);
    cudaFree((void *)call.slopes), cudaFree((void *)call.q), cudaFree((void *)call.qscale);
    cudaFree(call.out), cudaFree(call.stats), cudaFree(call.workspace), cudaFree(dk), cudaFree(dvv);
    cu_kv_free(&kv);
    free(kr), free(vr), free(want), free(got), free(cst), free(gst);
    free_inputs(&in);
}

/* The same case in fp32 and in bf16. */
static void both(tcase c) {
    c.precision = SP_PREC_FP32;
    run_case(&c);
    c.precision = SP_PREC_BF16;
    run_case(&c);
}

#define SHAPES(NORM, A)                                                                           \
    Test(cuda_attention, NORM##_small) {                                                          \
        both((tcase){#NORM, A, 4, 2, 16, 16, 100, 100, .alibi = 0});                              \
    }                                                                                             \
    Test(cuda_attention, NORM##_d64_alibi_qscale) {                                               \
        both((tcase){#NORM, A, 8, 2, 64, 64, 1000, 1000, .alibi = 1, .qscale = 1});               \
    }                                                                                             \
    Test(cuda_attention, NORM##_d128_gqa_long) {                                                  \
        both((tcase){#NORM, A, 12, 4, 128, 128, 1500, 2500, .qscale = 1});                        \
    }                                                                                             \
    Test(cuda_attention, NORM##_window_softcap) {                                                 \
        both((tcase){#NORM, A, 6, 3, 64, 64, 700, 900, .window = 200, .softcap = 5.0f,            \
                     .alibi = 1});                                                                \
    }                                                                                             \
    Test(cuda_attention, NORM##_decode) {                                                         \
        both((tcase){#NORM, A, 8, 4, 64, 64, 1, 3001, .alibi = 1, .qscale = 1});                  \
        both((tcase){#NORM, A, 4, 1, 128, 128, 1, 777, .alibi = 0});                              \
    }                                                                                             \
    Test(cuda_attention, NORM##_d256_noncausal) {                                                 \
        both((tcase){#NORM, A, 4, 2, 256, 256, 150, 300, .noncausal = 1});                        \
    }

SHAPES(softmax, 0)
SHAPES(entmax, 1.5f)
SHAPES(sparsemax, 2.0f)

Test(cuda_attention, entmax_other_alpha) {
    both((tcase){"entmax", 1.25f, 8, 2, 64, 64, 600, 800, .alibi = 1});
    both((tcase){"entmax", 1.75f, 4, 4, 32, 32, 300, 300, .qscale = 1});
}

/* α near 1 on a flat row keeps thousands of candidates: the block solver's path. */
Test(cuda_attention, entmax_overflow_rows) {
    both((tcase){"entmax", 1.1f, 4, 2, 64, 64, 300, 3000, .qamp = 0.5f});
    both((tcase){"entmax", 1.5f, 4, 2, 64, 64, 200, 4000, .qamp = 0.2f});
}

/* The bf16 pipeline's rows at their edges: flat rows whose support is (nearly) every key, so
 * that lists overflow to the block path; rows dominated by one key; scores tied in groups; long
 * rows in prefill and decode; general α with query scales and NAPE. */
static void bf16_only(tcase c) {
    c.precision = SP_PREC_BF16;
    run_case(&c);
}

Test(cuda_attention, entmax_bf16_flat_and_peaked) {
    bf16_only((tcase){"entmax", 1.5f, 4, 2, 64, 64, 300, 2000, .qamp = 0.05f});
    bf16_only((tcase){"sparsemax", 2.0f, 4, 2, 128, 128, 200, 1500, .qamp = 0.02f});
    bf16_only((tcase){"entmax", 1.5f, 4, 2, 64, 64, 300, 600, .qamp = 12.0f});
    bf16_only((tcase){"sparsemax", 2.0f, 4, 2, 64, 64, 300, 600, .qamp = 12.0f, .alibi = 1});
}

/* q' exact in bf16, large scores: the listing threshold's bf16 margin is then only the bound
 * on the sums' rounding (cu_attn_ent_rows.cuh, bf16_error_factor), and the support must still
 * be the CPU's. */
Test(cuda_attention, entmax_bf16_exact_queries) {
    bf16_only((tcase){"entmax", 1.5f, 4, 2, 64, 64, 300, 2000, .qamp = 12.0f, .exact = 1});
    bf16_only((tcase){"sparsemax", 2.0f, 4, 2, 64, 64, 300, 2000, .qamp = 12.0f, .exact = 1});
    bf16_only((tcase){"entmax", 1.5f, 4, 2, 64, 64, 300, 1200, .qamp = 1.0f, .exact = 1});
}

Test(cuda_attention, entmax_bf16_ties) {
    bf16_only((tcase){"entmax", 1.5f, 4, 2, 64, 64, 200, 700, .ties = 8});
    bf16_only((tcase){"sparsemax", 2.0f, 4, 2, 128, 128, 200, 700, .ties = 3});
    bf16_only((tcase){"entmax", 1.5f, 4, 4, 64, 64, 100, 400, .ties = 1});
}

Test(cuda_attention, entmax_bf16_long_rows) {
    bf16_only((tcase){"entmax", 1.5f, 4, 4, 64, 64, 128, 20000, .alibi = 1, .qscale = 1});
    bf16_only((tcase){"sparsemax", 2.0f, 2, 1, 128, 128, 64, 12000, .qscale = 1});
    bf16_only((tcase){"entmax", 1.5f, 4, 2, 64, 64, 1, 30000, .alibi = 1});
}

Test(cuda_attention, entmax_bf16_general_alpha) {
    bf16_only((tcase){"entmax", 1.25f, 4, 2, 128, 128, 100, 3000, .qscale = 1});
    bf16_only((tcase){"entmax", 1.75f, 6, 3, 64, 64, 400, 900, .alibi = 1, .qscale = 1});
    bf16_only((tcase){"entmax", 1.75f, 4, 2, 64, 64, 1, 5000, .alibi = 1});
}

/* Supports from a few keys to a few hundred: pass 1's lists (16 entries per thread and row)
 * hold the small ones; rows whose list overflows are listed again by pass 2, and its lists
 * (256 per row) overflow to the block path in turn. */
Test(cuda_attention, entmax_bf16_support_sweep) {
    const float amp[] = {0.3f, 0.6f, 1.0f, 1.6f, 2.5f};
    for (int i = 0; i < 5; i++) {
        bf16_only((tcase){"entmax", 1.5f, 4, 2, 64, 64, 256, 2500, .qamp = amp[i], .qscale = 1});
        bf16_only((tcase){"sparsemax", 2.0f, 2, 1, 128, 128, 200, 1800, .qamp = amp[i]});
    }
    bf16_only((tcase){"entmax", 1.5f, 6, 2, 64, 64, 300, 4000, .qamp = 1.0f, .alibi = 1});
}

/* The two kernels of the list pipeline's QK-only passes on the same case: the mma.sync one
 * (SPARSA_CUDA_ENTMAX_PASS=s) and the Hopper one (the value hopper: a variant letter; the
 * default where it can run), each against the CPU and within 2e-2 × max(1, |o|) of each other.
 * Returns 1 if the Hopper kernel ran (it runs only on a device and build with sm_90a code). */
static int both_passes(tcase c, const char *hopper) {
    c.precision = SP_PREC_BF16;
    const size_t no = c.nq * c.H * c.dv;
    float *a = malloc(no * sizeof(float)), *b = malloc(no * sizeof(float));
    cr_assert(a && b);
    const uint64_t seed = rng; /* the same inputs twice */
    setenv("SPARSA_CUDA_ENTMAX_PASS", "s", 1);
    captured = a;
    run_case(&c);
    rng = seed;
    const unsigned long long before = cu_attn_ent_tma_launches();
    setenv("SPARSA_CUDA_ENTMAX_PASS", hopper, 1);
    captured = b;
    run_case(&c);
    captured = NULL;
    unsetenv("SPARSA_CUDA_ENTMAX_PASS");
    const int ran = cu_attn_ent_tma_launches() > before;
    for (size_t i = 0; i < no; i++) {
        const double err = fabs((double)a[i] - b[i]) / fmax(1.0, fabs(a[i]));
        cr_assert((isnan(a[i]) && isnan(b[i])) || err <= 2e-2,
                  "%s nq%zu nk%zu: out[%zu] mma.sync %.9g, Hopper (%s) %.9g", c.norm, c.nq, c.nk,
                  i, a[i], hopper, b[i]);
    }
    free(a), free(b);
    return ran;
}

/* 1 on a compute capability 9.0 device (where the Hopper passes must run). */
static int hopper_device(void) {
    int dev = 0, major = 0, minor = 0;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    CK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    return major == 9 && minor == 0;
}

Test(cuda_attention, entmax_bf16_pass_kernels) {
    need_gpu();
    int ran = 0;
    ran += both_passes((tcase){"entmax", 1.5f, 4, 2, 64, 64, 500, 2500, .qscale = 1}, "b");
    ran += both_passes((tcase){"sparsemax", 2.0f, 4, 4, 64, 64, 700, 700, .window = 200,
                               .softcap = 5.0f}, "b");
    ran += both_passes((tcase){"entmax", 1.5f, 6, 2, 64, 64, 300, 4000, .alibi = 1}, "b");
    ran += both_passes((tcase){"entmax", 1.25f, 4, 2, 64, 64, 64, 3000, .qamp = 0.3f}, "a");
    ran += both_passes((tcase){"entmax", 1.5f, 4, 1, 64, 64, 400, 1300, .qamp = 2.0f,
                               .nan_row = 100}, "c");
    ran += both_passes((tcase){"sparsemax", 2.0f, 2, 2, 64, 64, 130, 130, .noncausal = 1}, "b");
    if (!hopper_device()) cr_skip_test("not a compute capability 9.0 device: only mma.sync ran");
    cr_assert_eq(ran, 6, "the Hopper passes ran in %d of 6 cases", ran);
}

/* Large scores (|q'|·|k| in the tens): the bf16 passes' scores are off by up to 2^−8·|q'|·|k|, so
 * their lists must reach that far below the threshold for the fp32 scores to find every key. */
Test(cuda_attention, entmax_bf16_large_scores) {
    bf16_only((tcase){"sparsemax", 2.0f, 4, 2, 64, 64, 300, 600, .qamp = 12.0f, .qscale = 1});
    bf16_only((tcase){"entmax", 1.5f, 8, 2, 64, 64, 500, 1000, .qamp = 8.0f, .alibi = 1});
    bf16_only((tcase){"entmax", 1.25f, 4, 2, 128, 128, 300, 700, .qamp = 10.0f, .qscale = 1});
}

/* A NaN in one query row makes that row's head NaN and leaves every other row as it was. */
Test(cuda_attention, nan_query_row) {
    const char *norms[] = {"softmax", "entmax", "sparsemax"};
    for (int k = 0; k < 3; k++) {
        tcase c = {norms[k], 1.5f, 4, 2, 64, 64, 200, 300, .nan_row = 77};
        run_case(&c);
        c.precision = SP_PREC_BF16;
        run_case(&c);
    }
}

Test(cuda_attention, value_dim_differs) {
    both((tcase){"softmax", 0, 4, 2, 64, 32, 300, 300, .alibi = 1});
    both((tcase){"entmax", 1.5f, 4, 2, 32, 64, 300, 300, .alibi = 0});
}

Test(cuda_attention, row_kernels) {
    both((tcase){"adaptive_softmax", 0, 4, 2, 64, 64, 300, 500, .alibi = 1, .qscale = 1});
    both((tcase){"adaptive_softmax", 0, 4, 2, 64, 64, 1, 900, .qamp = 0.3f});
    both((tcase){"stickbreaking", 0, 4, 2, 64, 64, 300, 300, .alibi = 0});
    both((tcase){"stickbreaking", 0, 8, 4, 128, 128, 1, 1200, .alibi = 1});
    both((tcase){"topk", 0, 4, 2, 64, 64, 300, 400, .topk = 8});
    both((tcase){"topk", 0, 4, 2, 32, 32, 200, 300, .topk = 4, .div2 = 1, .window = 100});
    both((tcase){"topk", 0, 4, 4, 64, 64, 1, 1000, .topk = 32, .alibi = 1});
}

Test(cuda_attention, supported_says_why) {
    sp_bk_attention p = {.heads = 4, .kv_heads = 2, .head_dim = 64, .normalizer = "foo"};
    char why[200] = "";
    cr_assert_eq(cu_attention_supported(&p, why, sizeof why), 0);
    cr_assert(strstr(why, "'foo'"), "%s", why);
    p.normalizer = "softmax";
    p.head_dim = 512;
    cr_assert_eq(cu_attention_supported(&p, why, sizeof why), 0);
    cr_assert(strstr(why, "512"), "%s", why);
    p.head_dim = 64;
    cr_assert_eq(cu_attention_supported(&p, why, sizeof why), 1);
}

/* Rows whose list overflows, done by the block path: windowed rows (keys below the window in
 * their first tile), head size 128, general α (weights renormalised), one long decode row,
 * and NAPE heads whose ALiBi rows stay short beside flat rows of the others. */
Test(cuda_attention, entmax_bf16_overflow_paths) {
    bf16_only((tcase){"entmax", 1.5f, 4, 2, 64, 64, 300, 6000, .qamp = 0.05f, .window = 2000});
    bf16_only((tcase){"sparsemax", 2.0f, 2, 1, 128, 128, 200, 3000, .qamp = 0.02f});
    bf16_only((tcase){"entmax", 1.25f, 4, 2, 64, 64, 200, 2500, .qamp = 0.05f, .qscale = 1});
    bf16_only((tcase){"entmax", 1.5f, 4, 2, 64, 64, 1, 30000, .qamp = 0.05f});
    bf16_only((tcase){"entmax", 1.5f, 8, 4, 64, 64, 400, 5000, .qamp = 0.3f, .alibi = 1,
                      .qscale = 1});
}

#endif
