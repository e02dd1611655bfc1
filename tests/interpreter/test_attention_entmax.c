/* test_attention_entmax.c — sparsemax, entmax-1.5, general α and the reference's fp32 bisection
 * against every entmax example of docs/ATTENTION_MATH.md#worked-examples (S1–S3, E1–E5, z8;
 * computed in Python), both exact algorithms (sort and support iteration) and the general
 * solver against each other on long random rows, and entmax attention (the attention example
 * there) with exact-zero skipping. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "attention_internal.h"

#define TOL 1e-6

static void assert_close(const float *got, const double *want, size_t n, double tol,
                         const char *what) {
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= tol, "%s[%zu]: got %.9g want %.9g", what, i,
                  (double)got[i], want[i]);
}

/* Checks sp_entmax and, for α ∈ {1.5, 2}, both exact algorithms separately. */
static void check_entmax(const float *z, size_t n, float alpha, const double *want_p,
                         double want_tau, size_t want_k) {
    float p[16], tau;
    size_t k = sp_entmax(z, n, alpha, p, &tau);
    assert_close(p, want_p, n, TOL, "p");
    cr_assert(fabs(tau - want_tau) <= TOL, "tau %.9g want %.9g (alpha %g)", (double)tau,
              want_tau, (double)alpha);
    cr_assert_eq(k, want_k, "support %zu want %zu (alpha %g)", k, want_k, (double)alpha);
    for (size_t j = 0; j < n; j++)
        if (want_p[j] == 0.0) cr_assert_eq(p[j], 0.0f, "p[%zu] must be exactly zero", j);

    if (alpha != 2.0f && alpha != 1.5f) return;
    /* both exact algorithms on the shifted candidates x = (α−1)(z − max) */
    float m = z[0], x[16], scratch[16];
    for (size_t j = 1; j < n; j++) m = z[j] > m ? z[j] : m;
    size_t c = 0; /* the candidates: x > −1 (the others are exactly zero) */
    for (size_t j = 0; j < n; j++) {
        float v = (alpha - 1.0f) * (z[j] - m);
        if (v > -1.0f) x[c++] = v;
    }
    n = c;
    const double shift = (alpha - 1.0) * m;
    int ok = 0;
    double ts = sp__entmax_tau_support(x, n, alpha == 2.0f, scratch, &ok);
    cr_assert(ok, "support iteration did not settle");
    cr_assert(fabs(ts + shift - want_tau) <= TOL, "support tau %.9g want %.9g", ts + shift,
              want_tau);
    memcpy(scratch, x, n * sizeof(float));
    double tq = sp__entmax_tau_sort(scratch, n, alpha == 2.0f);
    cr_assert(fabs(tq + shift - want_tau) <= TOL, "sort tau %.9g want %.9g", tq + shift, want_tau);
    double tv = sp__entmax_tau_solve(x, n, alpha);
    cr_assert(fabs(tv + shift - want_tau) <= TOL, "solver tau %.9g want %.9g", tv + shift,
              want_tau);
}

Test(entmax, s1_sparsemax) {
    const float z[3] = {0.5f, 0.3f, -0.4f};
    const double p[3] = {0.6, 0.4, 0};
    check_entmax(z, 3, 2.0f, p, -0.1, 2);
    float q[3];
    cr_assert_eq(sp_sparsemax(z, 3, q, NULL), 2);
    assert_close(q, p, 3, TOL, "sp_sparsemax");
}

Test(entmax, s2_sparsemax) {
    const float z[4] = {1.0f, 0.8f, 0.5f, -0.5f};
    const double p[4] = {17.0 / 30, 11.0 / 30, 2.0 / 30, 0};
    check_entmax(z, 4, 2.0f, p, 13.0 / 30, 3);
}

Test(entmax, s3_sparsemax_gap_one_is_boundary) {
    const float z[2] = {1, 0};
    const double p[2] = {1, 0};
    check_entmax(z, 2, 2.0f, p, 0.0, 1);
}

Test(entmax, e1_entmax15) {
    const float z[3] = {1, 0, -1};
    const double p[3] = {0.830718914, 0.169281086, 0};
    check_entmax(z, 3, 1.5f, p, -0.411437828, 2);
    float q[3];
    cr_assert_eq(sp_entmax15(z, 3, q, NULL), 2);
    assert_close(q, p, 3, TOL, "sp_entmax15");
}

Test(entmax, e2_entmax15) {
    const float z[4] = {1.0f, 0.8f, 0.5f, -0.5f};
    const double p[4] = {0.468953804, 0.341993401, 0.189052795, 0};
    check_entmax(z, 4, 1.5f, p, -0.184802018, 3);
}

Test(entmax, e3_entmax15_uniform) {
    const float z[4] = {0, 0, 0, 0};
    const double p[4] = {0.25, 0.25, 0.25, 0.25};
    check_entmax(z, 4, 1.5f, p, -0.5, 4);
}

Test(entmax, e4_entmax15_gap_two_is_boundary) {
    const float z[2] = {2, 0}, z2[2] = {2.5f, 0};
    const double p[2] = {1, 0};
    check_entmax(z, 2, 1.5f, p, 0.0, 1);
    check_entmax(z2, 2, 1.5f, p, 0.25, 1);
}

Test(entmax, e5_single_key) {
    const float z[1] = {0.7f};
    const double p[1] = {1};
    check_entmax(z, 1, 1.5f, p, 0.7 / 2 - 1, 1);
    check_entmax(z, 1, 2.0f, p, 0.7 - 1, 1);
    check_entmax(z, 1, 1.25f, p, 0.25 * 0.7 - 1, 1);
}

static const float Z8[8] = {0.9f, -1.2f, 0.35f, 1.6f, 0.1f, -0.3f, 1.25f, 0.0f};

Test(entmax, z8_alpha_1_25) {
    const double p[8] = {0.161964629, 0.000143179461, 0.0609585283, 0.429167983,
                         0.0356050647, 0.0125026878, 0.271568625, 0.0280893033};
    check_entmax(Z8, 8, 1.25f, p, -0.409388126, 8);
}

Test(entmax, z8_alpha_1_5) {
    const double p[8] = {0.145183766, 0, 0.0112423344, 0.534404678, 0, 0, 0.309169222, 0};
    check_entmax(Z8, 8, 1.5f, p, 0.068970125, 4);
}

Test(entmax, z8_alpha_1_75) {
    const double p[8] = {0.0849342707, 0, 0, 0.60070258, 0, 0, 0.314363149, 0};
    check_entmax(Z8, 8, 1.75f, p, 0.517669754, 3);
}

Test(entmax, z8_alpha_2) {
    const double p[8] = {0, 0, 0, 0.675, 0, 0, 0.325, 0};
    check_entmax(Z8, 8, 2.0f, p, 0.925, 2);
}

/* The row across α (z8): the fp32 emulation of the reference's entmax_bisect (50 iterations,
 * renormalised). */
Test(entmax, bisect_ref_fp32_values) {
    float p[11];
    const double p15[8] = {0.145183742, 0, 0.0112423301, 0.534404695, 0, 0, 0.309169203, 0};
    sp_entmax_bisect_ref(Z8, 8, 1.5f, 50, p);
    assert_close(p, p15, 8, 1e-8, "bisect 1.5");
    const double p2[8] = {0, 0, 0, 0.675000012, 0, 0, 0.324999988, 0};
    sp_entmax_bisect_ref(Z8, 8, 2.0f, 50, p);
    assert_close(p, p2, 8, 1e-8, "bisect 2");
    const double p125[8] = {0.161964595, 0.000143179393, 0.0609585308, 0.429168046,
                            0.0356050655, 0.0125026898, 0.271568626, 0.0280893035};
    sp_entmax_bisect_ref(Z8, 8, 1.25f, 50, p);
    assert_close(p, p125, 8, 1e-8, "bisect 1.25");
}

Test(entmax, bisect_ref_with_masked_columns) {
    float z[11], p[11];
    memcpy(z, Z8, sizeof Z8);
    z[8] = z[9] = z[10] = -FLT_MAX;
    sp_entmax_bisect_ref(z, 11, 1.5f, 50, p);
    const double want[11] = {0.145183742, 0, 0.0112423301, 0.534404695, 0, 0, 0.309169203, 0,
                             0, 0, 0};
    assert_close(p, want, 11, 1e-6, "masked");
}

/* The reference solver and the exact answer agree to ~2e-8
 * (docs/ATTENTION_MATH.md#worked-examples). */
Test(entmax, bisect_ref_close_to_exact) {
    const float alphas[4] = {1.25f, 1.5f, 1.75f, 2.0f};
    for (int a = 0; a < 4; a++) {
        float pe[8], pb[8];
        sp_entmax(Z8, 8, alphas[a], pe, NULL);
        sp_entmax_bisect_ref(Z8, 8, alphas[a], 50, pb);
        for (int j = 0; j < 8; j++) cr_assert(fabs(pe[j] - pb[j]) <= 1e-6);
    }
}

static float urand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 16777216.0f;
}

/* Long rows (far beyond the sort threshold): support iteration, sort and the Halley solver
 * are three independent algorithms and must agree; p sums to one. */
Test(entmax, long_rows_three_algorithms_agree) {
    enum { N = 3000 };
    static float z[N], x[N], a[N], b[N], p[N];
    unsigned seed = 7;
    const float spreads[4] = {0.5f, 3.0f, 10.0f, 40.0f};
    for (int sp = 0; sp < 4; sp++) {
        for (int sm = 0; sm < 2; sm++) {
            for (int j = 0; j < N; j++) z[j] = spreads[sp] * (urand(&seed) - 0.5f);
            const float alpha = sm ? 2.0f : 1.5f;
            float m = z[0];
            for (int j = 1; j < N; j++) m = z[j] > m ? z[j] : m;
            size_t c = 0;
            for (int j = 0; j < N; j++) {
                float v = (alpha - 1) * (z[j] - m);
                if (v > -1.0f) x[c++] = v;
            }
            int ok = 0;
            double t1 = sp__entmax_tau_support(x, c, sm, a, &ok);
            cr_assert(ok, "support iteration did not settle (spread %g)", (double)spreads[sp]);
            memcpy(b, x, c * sizeof(float));
            double t2 = sp__entmax_tau_sort(b, c, sm);
            double t3 = sp__entmax_tau_solve(x, c, alpha);
            cr_assert(fabs(t1 - t2) <= 1e-7 && fabs(t1 - t3) <= 1e-7,
                      "tau support %.12g sort %.12g solver %.12g", t1, t2, t3);
            size_t k = sp_entmax(z, N, alpha, p, NULL);
            double sum = 0;
            size_t nz = 0;
            for (int j = 0; j < N; j++) {
                sum += p[j];
                nz += p[j] > 0;
                if ((alpha - 1) * (z[j] - m) <= -1.0f) cr_assert_eq(p[j], 0.0f);
            }
            cr_assert_eq(nz, k);
            cr_assert(fabs(sum - 1) <= 1e-5, "sum %g", sum);
        }
    }
}

Test(entmax, general_alpha_sums_to_one_and_matches_limits) {
    /* α close to 2 approaches sparsemax, α = 1.5 via the solver equals the exact form */
    float p1[8], p2[8];
    sp_entmax(Z8, 8, 1.999f, p1, NULL);
    sp_sparsemax(Z8, 8, p2, NULL);
    for (int j = 0; j < 8; j++) cr_assert(fabs(p1[j] - p2[j]) <= 2e-3);
    const float alphas[3] = {1.1f, 1.3f, 3.0f};
    for (int a = 0; a < 3; a++) {
        sp_entmax(Z8, 8, alphas[a], p1, NULL);
        double s = 0;
        for (int j = 0; j < 8; j++) s += p1[j];
        cr_assert(fabs(s - 1) <= 1e-6);
    }
}

/* The attention example: H = 2, d = 2, L = 3; head 0 ALiBi slope 1, head 1 NoPE (scaled in
 * ASEntmax). */
static const float Q94[3][4] = {{1, 0, .5f, .5f}, {0, 1, 1, -1}, {1, 2, 1, .5f}};
static const float K94[3][4] = {{1, 0, 2, 0}, {0, 1, 0, 1}, {1, 1, 1, 1}};
static const float V94[3][4] = {{1, 0, 1, 2}, {0, 1, 3, 4}, {1, 1, 5, 6}};

static sp_attn_params params94(void) {
    static const float slopes[2] = {1.0f, 0.0f};
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = p.kv_heads = 2;
    p.head_dim = p.value_dim = 2;
    p.scale = (float)(1.0 / sqrt(2.0));
    p.causal = 1;
    p.norm = sp_norm_find("entmax");
    p.alpha = 1.5f;
    p.alibi_slopes = slopes;
    return p;
}

Test(entmax_attention, plain_entmax_nape_9_4) {
    sp_attn_params p = params94();
    float out[3][4];
    sp_attention_forward(&p, &Q94[0][0], &K94[0][0], &V94[0][0], NULL, 0, 3, 3, &out[0][0], NULL);
    const double h1[2] = {2.51852562, 3.51852562};
    assert_close(&out[2][2], h1, 2, TOL, "head1 i2");
    /* head 0 is unscaled, so it equals the ASEntmax table's head 0 */
    const double h0[3][2] = {{1, 0}, {0.0187732504, 0.98122675}, {0.98122675, 1}};
    for (int i = 0; i < 3; i++) assert_close(&out[i][0], h0[i], 2, TOL, "head0");
}

Test(entmax_attention, asentmax_nape_9_4_given_scalers) {
    sp_attn_params p = params94();
    const float qs[3][2] = {{1, 1.138629436f}, {1, 1.477032294f}, {1, 2.921812056f}};
    float out[3][4];
    sp_attn_stats st[2];
    memset(st, 0, sizeof st);
    sp_attention_forward(&p, &Q94[0][0], &K94[0][0], &V94[0][0], &qs[0][0], 0, 3, 3, &out[0][0],
                         st);
    const double want[3][4] = {{1, 0, 1, 2},
                               {0.0187732504, 0.98122675, 1, 2},
                               {0.98122675, 1, 1.64001528, 2.64001528}};
    for (int i = 0; i < 3; i++) assert_close(out[i], want[i], 4, TOL, "out");
    /* supports: head 0 {1, 2, 2}, head 1 {1, 1, 2} of 6 visible each */
    cr_assert_eq(st[0].rows, 3);
    cr_assert_eq(st[0].visible, 6);
    cr_assert_eq(st[0].support, 5);
    cr_assert_eq(st[1].support, 4);
}

/* Keys outside the support are never read from V: NaN there must not reach the output. */
Test(entmax_attention, zero_keys_never_touch_v) {
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = p.kv_heads = 1;
    p.head_dim = p.value_dim = 1;
    p.scale = 1.0f;
    p.causal = 1;
    p.norm = sp_norm_find("entmax");
    const float k[4] = {-5, 1, 0.5f, -9}, q[1] = {1};
    const float v[4] = {NAN, 10, 20, NAN};
    const float alphas[3] = {1.5f, 2.0f, 1.3f};
    for (int a = 0; a < 3; a++) {
        p.alpha = alphas[a];
        float out[1];
        sp_attn_stats st = {0, 0, 0, 0, 0};
        sp_attention_forward(&p, q, k, v, NULL, 3, 1, 4, out, &st);
        cr_assert(isfinite(out[0]), "alpha %g", (double)alphas[a]);
        float z[2] = {1, 0.5f}, pp[2];
        sp_entmax(z, 2, alphas[a], pp, NULL);
        cr_assert(fabs(out[0] - (10 * pp[0] + 20 * pp[1])) <= 1e-5);
        cr_assert_eq(st.visible, 4);
        cr_assert(st.support <= 2);
    }
}

/* Non-finite scores must not crash or read out of range; they poison the row (NaN out). */
Test(entmax, non_finite_rows_do_not_crash) {
    const float alphas[4] = {1.5f, 2.0f, 1.3f, 3.0f};
    const float bad[3][3] = {{NAN, NAN, NAN}, {INFINITY, 0, 1}, {-INFINITY, -INFINITY, -INFINITY}};
    for (int a = 0; a < 4; a++)
        for (int r = 0; r < 3; r++) {
            float p[3], tau;
            size_t k = sp_entmax(bad[r], 3, alphas[a], p, &tau);
            cr_assert(k <= 3);
        }
    /* and through attention, with a NaN query */
    sp_attn_params ap;
    memset(&ap, 0, sizeof ap);
    ap.heads = ap.kv_heads = 1;
    ap.head_dim = ap.value_dim = 1;
    ap.scale = 1.0f;
    ap.causal = 1;
    ap.norm = sp_norm_find("entmax");
    ap.alpha = 1.5f;
    const float q[1] = {NAN}, k[3] = {1, 2, 3}, v[3] = {1, 2, 3};
    float out[1];
    sp_attention_forward(&ap, q, k, v, NULL, 2, 1, 3, out, NULL);
    cr_assert(isnan(out[0]));
    /* every other normaliser: no crash either */
    const char *const others[4] = {"softmax", "adaptive_softmax", "stickbreaking", "topk"};
    ap.topk = 2;
    for (int i = 0; i < 4; i++) {
        ap.norm = sp_norm_find(others[i]);
        sp_attention_forward(&ap, q, k, v, NULL, 2, 1, 3, out, NULL);
    }
}
