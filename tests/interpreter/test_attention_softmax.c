/* test_attention_softmax.c — sp_softmax and softmax attention against the examples of
 * docs/ATTENTION_MATH.md#worked-examples (the row across α at α = 1, the attention example
 * with softmax), plus GQA, window, soft cap. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "attention.h"

#define TOL 1e-6

static void assert_close(const float *got, const double *want, size_t n, double tol,
                         const char *what) {
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= tol, "%s[%zu]: got %.9g want %.9g", what, i,
                  (double)got[i], want[i]);
}

Test(attention_softmax, z8_matches_reference) {
    const float z8[8] = {0.9f, -1.2f, 0.35f, 1.6f, 0.1f, -0.3f, 1.25f, 0.0f};
    const double want[8] = {0.158999718, 0.0194705376, 0.0917348572, 0.320186113,
                            0.0714431786, 0.0478897948, 0.22563134, 0.0646444612};
    float p[8];
    sp_softmax(z8, 8, p);
    assert_close(p, want, 8, TOL, "p");
}

Test(attention_softmax, large_scores_do_not_overflow) {
    const float z[3] = {1000.0f, 999.0f, -1000.0f};
    float p[3];
    sp_softmax(z, 3, p);
    const double e = exp(-1.0);
    const double want[3] = {1 / (1 + e), e / (1 + e), 0};
    assert_close(p, want, 3, TOL, "p");
}

/* The attention example's inputs: H = 2, d = 2, L = 3, rows are positions, [q_h0 | q_h1]. */
static const float Q94[3][4] = {{1, 0, .5f, .5f}, {0, 1, 1, -1}, {1, 2, 1, .5f}};
static const float K94[3][4] = {{1, 0, 2, 0}, {0, 1, 0, 1}, {1, 1, 1, 1}};
static const float V94[3][4] = {{1, 0, 1, 2}, {0, 1, 3, 4}, {1, 1, 5, 6}};

static sp_attn_params params94(void) {
    static const float slopes[2] = {1.0f, 0.0f};
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = 2;
    p.kv_heads = 2;
    p.head_dim = 2;
    p.value_dim = 2;
    p.scale = (float)(1.0 / sqrt(2.0));
    p.causal = 1;
    p.norm = sp_norm_find("softmax");
    p.alibi_slopes = slopes;
    return p;
}

Test(attention_softmax, nape_vector_9_4) {
    sp_attn_params p = params94();
    float out[3][4];
    sp_attn_stats st[2] = {{0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}};
    sp_attention_forward(&p, &Q94[0][0], &K94[0][0], &V94[0][0], NULL, 0, 3, 3, &out[0][0], st);
    /* head 0, i = 2: p = [0.0270958462, 0.149379077, 0.823525076] over V = [1,0],[0,1],[1,1] */
    const double h0[2] = {0.0270958462 + 0.823525076, 0.149379077 + 0.823525076};
    assert_close(&out[2][0], h0, 2, TOL, "head0 i2");
    /* head 1, i = 1: p = [0.892958199, 0.107041801] over V = [1,2],[3,4] */
    const double h1i1[2] = {0.892958199 + 3 * 0.107041801, 2 * 0.892958199 + 4 * 0.107041801};
    assert_close(&out[1][2], h1i1, 2, TOL, "head1 i1");
    const double h1i2[2] = {2.70922747, 3.70922747};
    assert_close(&out[2][2], h1i2, 2, TOL, "head1 i2");
    /* query 0 sees only key 0 */
    const double h1i0[2] = {1, 2};
    assert_close(&out[0][2], h1i0, 2, TOL, "head1 i0");
    for (int h = 0; h < 2; h++) {
        cr_assert_eq(st[h].rows, 3);
        cr_assert_eq(st[h].visible, 6);
        cr_assert_eq(st[h].support, 6);
    }
}

Test(attention_softmax, decode_row_equals_prefill_row) {
    sp_attn_params p = params94();
    float full[3][4], last[4];
    sp_attention_forward(&p, &Q94[0][0], &K94[0][0], &V94[0][0], NULL, 0, 3, 3, &full[0][0], NULL);
    sp_attention_forward(&p, &Q94[2][0], &K94[0][0], &V94[0][0], NULL, 2, 1, 3, last, NULL);
    for (int x = 0; x < 4; x++) cr_assert_eq(full[2][x], last[x]);
}

/* GQA: 2 query heads sharing one kv head equal two heads with duplicated k, v. */
Test(attention_softmax, gqa_shares_kv_heads) {
    sp_attn_params p = params94();
    p.alibi_slopes = NULL;
    float k1[3][2], v1[3][2], kd[3][4], vd[3][4];
    for (int j = 0; j < 3; j++)
        for (int x = 0; x < 2; x++) {
            k1[j][x] = K94[j][2 + x];
            v1[j][x] = V94[j][2 + x];
            kd[j][x] = kd[j][2 + x] = k1[j][x];
            vd[j][x] = vd[j][2 + x] = v1[j][x];
        }
    float og[3][4], od[3][4];
    p.kv_heads = 1;
    sp_attention_forward(&p, &Q94[0][0], &k1[0][0], &v1[0][0], NULL, 0, 3, 3, &og[0][0], NULL);
    p.kv_heads = 2;
    sp_attention_forward(&p, &Q94[0][0], &kd[0][0], &vd[0][0], NULL, 0, 3, 3, &od[0][0], NULL);
    cr_assert_eq(memcmp(og, od, sizeof og), 0);
    /* and head 1 matches the attention example */
    const double h1i2[2] = {2.70922747, 3.70922747};
    assert_close(&og[2][2], h1i2, 2, TOL, "gqa head1 i2");
}

Test(attention_softmax, window_one_returns_own_value) {
    sp_attn_params p = params94();
    p.window = 1;
    float out[3][4];
    sp_attention_forward(&p, &Q94[0][0], &K94[0][0], &V94[0][0], NULL, 0, 3, 3, &out[0][0], NULL);
    for (int i = 0; i < 3; i++)
        for (int x = 0; x < 4; x++) cr_assert_eq(out[i][x], V94[i][x]);
}

/* Soft cap and query scale on one head, two keys: p_1 = σ(s_1 − s_0). */
Test(attention_softmax, softcap_and_qscale) {
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = p.kv_heads = 1;
    p.head_dim = p.value_dim = 1;
    p.scale = 0.5f;
    p.causal = 1;
    p.norm = sp_norm_find("softmax");
    p.softcap = 2.0f;
    const float q[2] = {0, 3}, k[2] = {1, 2}, v[2] = {10, 20}, qs[2] = {1, 1.5f};
    float out[2];
    sp_attention_forward(&p, q, k, v, qs, 0, 2, 2, out, NULL);
    /* row 1: s = 2·tanh(0.5·4.5·{1,2}/2) */
    double s0 = 2 * tanh(0.5 * 4.5 * 1 / 2), s1 = 2 * tanh(0.5 * 4.5 * 2 / 2);
    double p1 = 1 / (1 + exp(s0 - s1));
    const double want[2] = {10, 10 * (1 - p1) + 20 * p1};
    assert_close(out, want, 2, 1e-5, "out");
}

Test(attention_softmax, result_independent_of_thread_count) {
    enum { L = 37, H = 8, D = 32 }; /* big enough for the parallel path */
    static float q[L][H * D], k[L][2 * D], v[L][2 * D], a[L][H * D], b[L][H * D];
    unsigned s = 1;
    for (int i = 0; i < L; i++)
        for (int x = 0; x < H * D; x++) {
            s = s * 1103515245u + 12345u;
            q[i][x] = ((s >> 8) % 2001) / 1000.0f - 1.0f;
            if (x < 2 * D) {
                k[i][x] = ((s >> 4) % 1999) / 700.0f - 1.4f;
                v[i][x] = ((s >> 12) % 997) / 500.0f - 1.0f;
            }
        }
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = H;
    p.kv_heads = 2;
    p.head_dim = p.value_dim = D;
    p.scale = 0.35f;
    p.causal = 1;
    p.norm = sp_norm_find("softmax");
    omp_set_num_threads(1);
    sp_attention_forward(&p, &q[0][0], &k[0][0], &v[0][0], NULL, 0, L, L, &a[0][0], NULL);
    omp_set_num_threads(3);
    sp_attention_forward(&p, &q[0][0], &k[0][0], &v[0][0], NULL, 0, L, L, &b[0][0], NULL);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
}

/* Every weight against softmax in double: the vectorised exponential keeps each p_j within a
 * few float ulps, across the whole range down to the subnormals and exact zeros. */
Test(attention_softmax, every_weight_within_float_accuracy_across_the_range) {
    enum { N = 1000 };
    static float z[N], p[N];
    for (int rep = 0; rep < 4; rep++) {
        /* scores spread over [-120, 0] (rep 0), [-10, 0], [-1, 1] and a long row of ties */
        for (int j = 0; j < N; j++) {
            float u = (float)((j * 7919 + rep * 104729) % N) / N;
            z[j] = rep == 0 ? -120.0f * u : rep == 1 ? -10.0f * u : rep == 2 ? 2.0f * u - 1.0f : 0.5f;
        }
        if (rep == 0) z[17] = 0.0f;
        sp_softmax(z, N, p);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < N; j++) mx = z[j] > mx ? z[j] : mx;
        for (int j = 0; j < N; j++) sum += exp((double)z[j] - mx);
        for (int j = 0; j < N; j++) {
            double want = exp((double)z[j] - mx) / sum;
            if (want < 1e-45) {
                cr_assert_leq(p[j], 1.5e-45f, "j %d: %g vs %g", j, p[j], want);
                continue;
            }
            double tol = want < 1.2e-38 ? 1.5e-45 : 6e-7 * want; /* subnormals: absolute */
            cr_assert_leq(fabs(p[j] - want), tol, "rep %d j %d z %g: %.9g vs %.9g", rep, j, z[j], p[j], want);
        }
    }
}
