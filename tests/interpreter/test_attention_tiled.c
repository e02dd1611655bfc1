/* test_attention_tiled.c — the tiled attention path (docs/ATTENTION_MATH.md#tiled-attention):
 * the tile kernels of every back end the CPU has against double precision, and qk_row /
 * pv_row equal to one lane of qk / pv bit for bit (what makes decode equal prefill); softmax,
 * entmax-1.5, sparsemax and α = 1.3 attention against a double-precision reference computed
 * here, causal, lengths that are not multiples of the tiles, head dims 16 … 256, GQA, ALiBi,
 * soft cap, window, query scales; prefill against decode and 2 against 3 threads on several
 * tiles; the skipped-tile
 * counts, on a row where whole tiles must be skipped and on one where none can be; a NaN or
 * Inf in a later key's rows leaves every earlier row's bits as without that key. A NaN
 * anywhere fails every comparison. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "attn_tile.h"
#include "gemm.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float urand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

/* |got − want| ≤ tol·(1 + |want|), written so that a NaN fails. */
static void check_close(double got, double want, double tol, const char *what, size_t at) {
    cr_assert(fabs(got - want) <= tol * (1.0 + fabs(want)), "%s[%zu]: got %.9g want %.9g", what,
              at, got, want);
}

/* ---- the kernels ----------------------------------------------------------------------- */

static void kernels_against_double(const char *isa) {
    if (sp_gemm_set_isa(isa) != 0) {
        sp_gemm_set_isa("auto");
        cr_skip("the CPU has no %s", isa);
    }
    const sp_attn_tile_kernels *kn = sp_attn_tile_kernels_get();
    cr_assert_str_eq(kn->name, isa);
    enum { LN = SP_ATTN_LANES, TK = SP_ATTN_TK };
    static float qT[256 * LN], k[TK * 260], sT[TK * LN], pT[TK * LN], oT[256 * LN];
    static float o0[256 * LN], alpha[LN], prow[TK], orow[256];
    const int dims[5] = {16, 32, 64, 128, 256}, counts[3] = {1, 7, TK};
    for (int di = 0; di < 5; di++)
        for (int ci = 0; ci < 3; ci++) {
            const int d = dims[di], n = counts[ci];
            const size_t ks = (size_t)d + 3; /* a stride that is not the width, as in GQA */
            for (int i = 0; i < d * LN; i++) qT[i] = urand();
            for (size_t i = 0; i < (size_t)n * ks; i++) k[i] = urand();
            kn->qk(qT, k, ks, d, n, sT);
            for (int j = 0; j < n; j++)
                for (int l = 0; l < LN; l++) {
                    double want = 0;
                    for (int p = 0; p < d; p++) want += (double)k[j * ks + p] * qT[p * LN + l];
                    check_close(sT[j * LN + l], want, 1e-5 * sqrt(d), "qk", (size_t)(j * LN + l));
                }
            /* one query through qk_row: the same bits as its lane of qk */
            float qrow[256], srow[TK];
            for (int p = 0; p < d; p++) qrow[p] = qT[p * LN + 9];
            kn->qk_row(qrow, k, ks, d, n, srow);
            for (int j = 0; j < n; j++)
                cr_assert(memcmp(&srow[j], &sT[j * LN + 9], sizeof(float)) == 0,
                          "%s d %d n %d: qk_row differs from its lane at key %d", isa, d, n, j);
            /* outputs: V is k read with d columns; rescale then accumulate */
            /* some weights exactly 0 (keys a lane does not see): they add nothing */
            for (int i = 0; i < n * LN; i++) pT[i] = i % 7 == 3 ? 0.0f : 0.5f * (urand() + 1.0f);
            for (int i = 0; i < d * LN; i++) o0[i] = oT[i] = urand();
            for (int l = 0; l < LN; l++) alpha[l] = 0.5f * (urand() + 1.0f);
            kn->pv(pT, k, ks, d, n, alpha, oT);
            for (int c = 0; c < d; c++)
                for (int l = 0; l < LN; l++) {
                    double want = (double)(o0[c * LN + l] * alpha[l]);
                    for (int j = 0; j < n; j++) want += (double)k[j * ks + c] * pT[j * LN + l];
                    check_close(oT[c * LN + l], want, 1e-5 * sqrt(n), "pv", (size_t)(c * LN + l));
                }
            /* one lane through pv_row: the same bits as lane 5 of pv */
            for (int j = 0; j < n; j++) prow[j] = pT[j * LN + 5];
            for (int c = 0; c < d; c++) orow[c] = o0[c * LN + 5];
            kn->pv_row(prow, k, ks, d, n, &alpha[5], orow);
            for (int c = 0; c < d; c++)
                cr_assert(memcmp(&orow[c], &oT[c * LN + 5], sizeof(float)) == 0,
                          "%s d %d n %d: pv_row differs from its lane at column %d", isa, d, n, c);
        }
    sp_gemm_set_isa("auto");
}

Test(attention_tiled, kernels_avx512) { kernels_against_double("avx512"); }
Test(attention_tiled, kernels_avx2) { kernels_against_double("avx2"); }
Test(attention_tiled, kernels_scalar) { kernels_against_double("scalar"); }

/* ---- attention against double ---------------------------------------------------------- */

/* τ of p = [x − τ]_+^(1/(α−1)), Σ p = 1, by bisection in double (α > 1). */
static double entmax_tau(const double *x, size_t n, double alpha) {
    double mx = x[0];
    for (size_t j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    double lo = mx - 1.0, hi = mx;
    for (int it = 0; it < 200; it++) {
        const double tau = 0.5 * (lo + hi);
        double f = -1.0;
        for (size_t j = 0; j < n; j++)
            if (x[j] > tau) f += pow(x[j] - tau, 1.0 / (alpha - 1.0));
        if (f > 0) lo = tau;
        else hi = tau;
    }
    return 0.5 * (lo + hi);
}

typedef struct geometry {
    int L, H, HK, d, dv, window;
    float scale, softcap, alpha; /* alpha 0: softmax */
    float spread;                /* q, k uniform in ±spread; 0: 1.5 (softmax) or 3 (entmax) */
    const float *slopes, *qscale;
} geometry;

/* out[i][h·dv + c] for every row, in double, from the float inputs. */
static void reference(const geometry *g, const float *q, const float *k, const float *v,
                      double *out) {
    double *s = malloc((size_t)g->L * sizeof(double)), *w = malloc((size_t)g->L * sizeof(double));
    cr_assert(s && w);
    for (int i = 0; i < g->L; i++)
        for (int h = 0; h < g->H; h++) {
            const int kh = h / (g->H / g->HK);
            const int lo = g->window > 0 && i + 1 > g->window ? i + 1 - g->window : 0;
            const double c = (g->qscale ? g->qscale[i * g->H + h] : 1.0) * g->scale;
            double mx = -INFINITY;
            for (int j = lo; j <= i; j++) {
                double dot = 0;
                for (int x = 0; x < g->d; x++)
                    dot += (double)q[(size_t)i * g->H * g->d + h * g->d + x] *
                           k[(size_t)j * g->HK * g->d + kh * g->d + x];
                dot *= c;
                if (g->softcap > 0) dot = g->softcap * tanh(dot / g->softcap);
                s[j] = dot + (g->slopes ? g->slopes[h] * (double)(j - i) : 0.0);
                mx = s[j] > mx ? s[j] : mx;
            }
            double sum = 0;
            if (g->alpha == 0) {
                for (int j = lo; j <= i; j++) sum += w[j] = exp(s[j] - mx);
                for (int j = lo; j <= i; j++) w[j] /= sum;
            } else {
                for (int j = lo; j <= i; j++) s[j] *= g->alpha - 1.0;
                const double tau = entmax_tau(s + lo, (size_t)(i + 1 - lo), g->alpha);
                for (int j = lo; j <= i; j++)
                    w[j] = s[j] > tau ? pow(s[j] - tau, 1.0 / (g->alpha - 1.0)) : 0.0;
            }
            for (int x = 0; x < g->dv; x++) {
                double o = 0;
                for (int j = lo; j <= i; j++) o += w[j] * v[(size_t)j * g->HK * g->dv + kh * g->dv + x];
                out[(size_t)i * g->H * g->dv + h * g->dv + x] = o;
            }
        }
    free(s);
    free(w);
}

static sp_attn_params params_of(const geometry *g) {
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = g->H;
    p.kv_heads = g->HK;
    p.head_dim = g->d;
    p.value_dim = g->dv;
    p.scale = g->scale;
    p.causal = 1;
    p.window = g->window;
    p.softcap = g->softcap;
    p.alibi_slopes = g->slopes;
    p.alpha = g->alpha;
    p.norm = sp_norm_find(g->alpha == 0 ? "softmax" : g->alpha == 2.0f ? "sparsemax" : "entmax");
    return p;
}

/* Prefill against the reference; decode (row by row, the cache growing) and 3 threads against
 * prefill, bit for bit. */
static void run_case(const geometry *g, const char *what) {
    const size_t nq = (size_t)g->L * g->H * g->d, nk = (size_t)g->L * g->HK * g->d;
    const size_t nv = (size_t)g->L * g->HK * g->dv, no = (size_t)g->L * g->H * g->dv;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nv * 4);
    float *pre = malloc(no * 4), *dec = malloc(no * 4), *thr = malloc(no * 4);
    double *want = malloc(no * sizeof(double));
    cr_assert(q && k && v && pre && dec && thr && want);
    /* by default entmax rows are genuinely sparse */
    const float spread = g->spread > 0 ? g->spread : g->alpha == 0 ? 1.5f : 3.0f;
    for (size_t i = 0; i < nq; i++) q[i] = spread * urand();
    for (size_t i = 0; i < nk; i++) k[i] = spread * urand();
    for (size_t i = 0; i < nv; i++) v[i] = urand();
    reference(g, q, k, v, want);
    const sp_attn_params p = params_of(g);
    omp_set_num_threads(2);
    sp_attention_forward(&p, q, k, v, g->qscale, 0, (size_t)g->L, (size_t)g->L, pre, NULL);
    for (size_t i = 0; i < no; i++) check_close(pre[i], want[i], 2e-5, what, i);
    for (int i = 0; i < g->L; i++)
        sp_attention_forward(&p, q + (size_t)i * g->H * g->d, k, v,
                             g->qscale ? g->qscale + (size_t)i * g->H : NULL, (size_t)i, 1,
                             (size_t)i + 1, dec + (size_t)i * g->H * g->dv, NULL);
    cr_assert(memcmp(pre, dec, no * 4) == 0, "%s: decode differs from prefill", what);
    omp_set_num_threads(3);
    sp_attention_forward(&p, q, k, v, g->qscale, 0, (size_t)g->L, (size_t)g->L, thr, NULL);
    cr_assert(memcmp(pre, thr, no * 4) == 0, "%s: 3 threads differ from 2", what);
    free(q), free(k), free(v), free(pre), free(dec), free(thr), free(want);
}

static void attention_cases(const char *isa) {
    if (sp_gemm_set_isa(isa) != 0) {
        sp_gemm_set_isa("auto");
        cr_skip("the CPU has no %s", isa);
    }
    const int dims[5] = {16, 32, 64, 128, 256}, lens[5] = {1, 33, 97, 70, 131};
    const float alphas[4] = {0, 1.5f, 2.0f, 1.3f};
    for (int di = 0; di < 5; di++)
        for (int a = 0; a < 4; a++) {
            const int d = dims[di];
            geometry g = {.L = lens[di], .H = 2, .HK = 1, .d = d, .dv = d,
                          .scale = 1.0f / sqrtf((float)d), .alpha = alphas[a]};
            char what[96];
            snprintf(what, sizeof what, "%s d %d L %d alpha %g", isa, d, g.L, (double)g.alpha);
            run_case(&g, what);
        }
    sp_gemm_set_isa("auto");
}

Test(attention_tiled, against_double_avx512, .timeout = 120) { attention_cases("avx512"); }
Test(attention_tiled, against_double_avx2, .timeout = 120) { attention_cases("avx2"); }
Test(attention_tiled, against_double_scalar, .timeout = 120) { attention_cases("scalar"); }

/* NAPE with query scales (ASEntmax's form), GQA, soft cap, a window and a value width that is
 * not the key width, over several query and key tiles. */
Test(attention_tiled, nape_scaled_window_softcap) {
    enum { L = 150, H = 4 };
    static float qs[L * H];
    const float slopes[H] = {1.0f, 0.5f, 0, 0};
    for (int i = 0; i < L * H; i++) qs[i] = 1.0f + 0.5f * (urand() + 1.0f);
    const float alphas[3] = {0, 1.5f, 2.0f};
    for (int a = 0; a < 3; a++) {
        geometry g = {.L = L, .H = H, .HK = 2, .d = 24, .dv = 20, .window = 77,
                      .scale = 0.3f, .softcap = 6.0f, .alpha = alphas[a], .slopes = slopes,
                      .qscale = qs};
        run_case(&g, alphas[a] == 0 ? "nape softmax" : "nape entmax");
    }
}

/* Long rows with hundreds of candidates each: the floor under τ is raised several times while
 * the tiles stream by (docs/ATTENTION_MATH.md#tiled-attention); the weights stay exact. */
Test(attention_tiled, many_candidates_floor_under_tau) {
    const float alphas[3] = {1.5f, 2.0f, 1.3f};
    for (int a = 0; a < 3; a++) {
        geometry g = {.L = 700, .H = 2, .HK = 2, .d = 16, .dv = 8, .scale = 0.25f,
                      .alpha = alphas[a], .spread = 0.8f};
        run_case(&g, "many candidates");
    }
}

/* ---- non-finite later keys -------------------------------------------------------------- */

/* A NaN or Inf in the key and/or value row of the key at `at`: every earlier row (prefill, 2
 * and 3 threads, decode) equals, bit for bit, the rows of the window cut just before that key;
 * for softmax with only the value poisoned, row `at` itself is non-finite (the poison is
 * live). */
static void poisoned_case(float alpha, size_t at, float bad, int where) {
    enum { L = 100, H = 2, D = 16 };
    static float q[L * H * D], k[L * D], v[L * D], cut[L * H * D], pre[L * H * D],
        thr[L * H * D], dec[L * H * D];
    for (int i = 0; i < L * H * D; i++) q[i] = 1.5f * urand();
    for (int i = 0; i < L * D; i++) k[i] = 1.5f * urand(), v[i] = urand();
    const geometry g = {.L = L, .H = H, .HK = 1, .d = D, .dv = D, .scale = 0.25f, .alpha = alpha};
    const sp_attn_params p = params_of(&g);
    omp_set_num_threads(2);
    sp_attention_forward(&p, q, k, v, NULL, 0, at, at, cut, NULL);
    for (int x = 0; x < D; x++) {
        if (where & 1) v[at * D + x] = bad;
        if (where & 2) k[at * D + x] = bad;
    }
    sp_attention_forward(&p, q, k, v, NULL, 0, L, L, pre, NULL);
    omp_set_num_threads(3);
    sp_attention_forward(&p, q, k, v, NULL, 0, L, L, thr, NULL);
    for (size_t i = 0; i < at; i++)
        sp_attention_forward(&p, q + i * H * D, k, v, NULL, i, 1, i + 1, dec + i * H * D, NULL);
    const size_t bytes = at * H * D * sizeof(float);
    const char *what = where == 1 ? "value" : where == 2 ? "key" : "key and value";
    cr_assert(memcmp(pre, cut, bytes) == 0, "alpha %g, %g in the %s row of key %zu: an earlier "
              "prefill row changed", (double)alpha, (double)bad, what, at);
    cr_assert(memcmp(thr, cut, bytes) == 0, "alpha %g, %s row of key %zu: 3 threads",
              (double)alpha, what, at);
    cr_assert(memcmp(dec, cut, bytes) == 0, "alpha %g, %s row of key %zu: decode", (double)alpha,
              what, at);
    if (alpha == 0 && where == 1) {
        int nonfinite = 0;
        for (int x = 0; x < H * D; x++) nonfinite |= !isfinite(pre[at * H * D + x]);
        cr_assert(nonfinite, "softmax row %zu sees a %g value but is finite", at, (double)bad);
    }
}

static void later_keys_poisoned(const char *isa) {
    if (sp_gemm_set_isa(isa) != 0) {
        sp_gemm_set_isa("auto");
        cr_skip("the CPU has no %s", isa);
    }
    /* key 40: earlier rows 32 … 39 share its query tile and key tile; key 70: the second key
     * tile */
    const float alphas[3] = {0, 1.5f, 2.0f}, bad[2] = {NAN, INFINITY};
    const size_t ats[2] = {40, 70};
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < 2; i++)
            for (int b = 0; b < 2; b++)
                for (int where = 1; where <= 3; where++)
                    poisoned_case(alphas[a], ats[i], bad[b], where);
    sp_gemm_set_isa("auto");
}

Test(attention_tiled, later_nonfinite_key_avx512) { later_keys_poisoned("avx512"); }
Test(attention_tiled, later_nonfinite_key_avx2) { later_keys_poisoned("avx2"); }
Test(attention_tiled, later_nonfinite_key_scalar) { later_keys_poisoned("scalar"); }

/* ---- skipped tiles --------------------------------------------------------------------- */

/* One head, d = 1, q = 1, k = 0: every score is 0 but for the ALiBi bias slope·(j − i). */
static sp_attn_stats skip_stats(int L, float slope, float alpha, float *out) {
    float *q = malloc((size_t)L * 4), *k = calloc((size_t)L, 4), *v = malloc((size_t)L * 4);
    cr_assert(q && k && v);
    for (int i = 0; i < L; i++) {
        q[i] = 1.0f;
        v[i] = (float)i;
    }
    geometry g = {.L = L, .H = 1, .HK = 1, .d = 1, .dv = 1, .scale = 1.0f, .alpha = alpha,
                  .slopes = &slope};
    const sp_attn_params p = params_of(&g);
    sp_attn_stats st = {0, 0, 0, 0, 0};
    sp_attention_forward(&p, q, k, v, NULL, 0, (size_t)L, (size_t)L, out, &st);
    free(q), free(k), free(v);
    return st;
}

/* Visible key tiles of all rows of a causal L-token window. */
static uint64_t visible_tiles(int L) {
    uint64_t n = 0;
    for (int i = 0; i < L; i++) n += (uint64_t)(i / SP_ATTN_TK + 1);
    return n;
}

Test(attention_tiled, whole_tiles_skipped) {
    enum { L = 300 };
    static float out[L];
    /* slope 1, α = 1.5: x_j = (j − i)/2, so key i−2 (x = −1) and every earlier one are
     * exactly zero; the support is {i−1, i}, and of each row's tiles only the one or two that
     * hold those keys are read */
    const sp_attn_stats st = skip_stats(L, 1.0f, 1.5f, out);
    uint64_t read = 0;
    for (int i = 0; i < L; i++) {
        const int first = i >= 1 ? i - 1 : 0;
        read += (uint64_t)(i / SP_ATTN_TK - first / SP_ATTN_TK + 1);
    }
    cr_assert_eq(st.tiles, visible_tiles(L));
    cr_assert_eq(st.tiles - st.tiles_skipped, read, "read %llu tiles, %llu hold support",
                 (unsigned long long)(st.tiles - st.tiles_skipped), (unsigned long long)read);
    cr_assert_gt(st.tiles_skipped, st.tiles / 2);
    cr_assert_eq(st.support, (uint64_t)(2 * L - 1));
    /* the weights of keys (i−1, i) are those of x = (−½, 0): (x − τ)² with Σ = 1 */
    double x[2] = {-0.5, 0.0};
    const double tau = entmax_tau(x, 2, 1.5);
    const double w1 = (x[0] - tau) * (x[0] - tau), w0 = (x[1] - tau) * (x[1] - tau);
    check_close(w0 + w1, 1.0, 1e-12, "sum", 0);
    for (int i = 1; i < L; i++) check_close(out[i], w1 * (i - 1) + w0 * i, 1e-5, "out", (size_t)i);
}

Test(attention_tiled, no_tile_skipped_when_dense) {
    enum { L = 200 };
    static float out[L];
    /* slope 0: every score equal, every weight 1/n, no tile can be skipped */
    const sp_attn_stats st = skip_stats(L, 0.0f, 1.5f, out);
    cr_assert_eq(st.tiles, visible_tiles(L));
    cr_assert_eq(st.tiles_skipped, 0);
    cr_assert_eq(st.support, st.visible);
    for (int i = 0; i < L; i++) check_close(out[i], i / 2.0, 1e-5, "mean of 0..i", (size_t)i);
    /* softmax counts no tiles (it reads every one) */
    const sp_attn_stats ss = skip_stats(L, 0.0f, 0, out);
    cr_assert_eq(ss.tiles, 0);
    cr_assert_eq(ss.support, ss.visible);
}
