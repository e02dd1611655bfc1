/* test_attention_variants.c — query scaling (ASEntmax, SSMax, learn) through sp_query_scale +
 * sp_attention_forward on the attention example of docs/ATTENTION_MATH.md#worked-examples,
 * stick-breaking (same section), top-k and the adaptive-temperature softmax (numbers from tests/reference/attention_extra_vectors.py). */
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

/* The attention example: H = 2, d = 2, L = 3; head 0 ALiBi slope 1, head 1 NoPE and scaled. */
static const float Q94[3][4] = {{1, 0, .5f, .5f}, {0, 1, 1, -1}, {1, 2, 1, .5f}};
static const float K94[3][4] = {{1, 0, 2, 0}, {0, 1, 0, 1}, {1, 1, 1, 1}};
static const float V94[3][4] = {{1, 0, 1, 2}, {0, 1, 3, 4}, {1, 1, 5, 6}};
static const float SLOPES[2] = {1.0f, 0.0f};

static sp_attn_params params94(const char *norm) {
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = p.kv_heads = 2;
    p.head_dim = p.value_dim = 2;
    p.scale = (float)(1.0 / sqrt(2.0));
    p.causal = 1;
    p.norm = sp_norm_find(norm);
    p.alpha = 1.5f;
    p.alibi_slopes = SLOPES;
    return p;
}

/* β = softplus(β_lin) and γ = a·tanh(γ_lin) are given after activation by the example; feed the
 * pre-activations that produce them (a = 4 keeps atanh finite for γ = 2). */
Test(variants, asentmax_nape_9_4_through_query_scale) {
    const double beta[3] = {0.2, 0.5, 1.0}, gamma[3] = {1.0, -0.5, 2.0};
    float blin[3], glin[3], qs[3][2];
    for (int i = 0; i < 3; i++) {
        blin[i] = (float)log(expm1(beta[i]));
        glin[i] = (float)atanh(gamma[i] / 4.0);
    }
    sp_qscale_params sq;
    memset(&sq, 0, sizeof sq);
    sq.kind = SP_QSCALE_ASENTMAX;
    sq.heads = 2;
    sq.scaled_heads = 1;
    sq.delta = 1.0f;
    sq.gamma_range = 4.0f;
    sq.log_offset = 2;
    sp_query_scale(&sq, 0, 3, blin, glin, &qs[0][0]);
    const double scaler[3] = {1.138629436, 1.477032294, 2.921812056};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(qs[i][0], 1.0f, "ALiBi head must not be scaled");
        cr_assert(fabs(qs[i][1] - scaler[i]) <= TOL, "scaler %d: %.9g", i, (double)qs[i][1]);
    }
    sp_attn_params p = params94("entmax");
    float out[3][4];
    sp_attention_forward(&p, &Q94[0][0], &K94[0][0], &V94[0][0], &qs[0][0], 0, 3, 3, &out[0][0],
                         NULL);
    const double want[3][4] = {{1, 0, 1, 2},
                               {0.0187732504, 0.98122675, 1, 2},
                               {0.98122675, 1, 1.64001528, 2.64001528}};
    for (int i = 0; i < 3; i++) assert_close(out[i], want[i], 4, TOL, "asentmax out");

    /* decode: the last row alone, scaled at its absolute position, gives the same output */
    float qs2[2], last[4];
    sp_query_scale(&sq, 2, 1, &blin[2], &glin[2], qs2);
    sp_attention_forward(&p, &Q94[2][0], &K94[0][0], &V94[0][0], qs2, 2, 1, 3, last, NULL);
    for (int x = 0; x < 4; x++) cr_assert(fabs(last[x] - out[2][x]) <= 1e-7);
}

Test(variants, plain_entmax_nape_with_no_scaling) {
    sp_qscale_params sq;
    memset(&sq, 0, sizeof sq);
    sq.kind = SP_QSCALE_NONE;
    sq.heads = 2;
    float qs[3][2];
    sp_query_scale(&sq, 0, 3, NULL, NULL, &qs[0][0]);
    sp_attn_params p = params94("entmax");
    float out[3][4];
    sp_attention_forward(&p, &Q94[0][0], &K94[0][0], &V94[0][0], &qs[0][0], 0, 3, 3, &out[0][0],
                         NULL);
    const double h1[2] = {2.51852562, 3.51852562};
    assert_close(&out[2][2], h1, 2, TOL, "entmax head1 i2");
}

Test(variants, ssmax_9_4) {
    const float beta[1] = {1.0f};
    sp_qscale_params sq;
    memset(&sq, 0, sizeof sq);
    sq.kind = SP_QSCALE_SSMAX;
    sq.heads = 2;
    sq.scaled_heads = 1;
    sq.log_offset = 2;
    sq.beta = beta;
    float qs[3][2];
    sp_query_scale(&sq, 0, 3, NULL, NULL, &qs[0][0]);
    cr_assert(fabs(qs[2][1] - log(4.0)) <= TOL);
    sp_attn_params p = params94("softmax");
    float out[3][4];
    sp_attention_forward(&p, &Q94[0][0], &K94[0][0], &V94[0][0], &qs[0][0], 0, 3, 3, &out[0][0],
                         NULL);
    const double h1[2] = {2.57940069, 3.57940069};
    assert_close(&out[2][2], h1, 2, TOL, "ssmax head1 i2");
    /* head 0 is unscaled softmax with ALiBi: p = [0.0270958462, 0.149379077, 0.823525076] */
    const double h0[2] = {0.0270958462 + 0.823525076, 0.149379077 + 0.823525076};
    assert_close(&out[2][0], h0, 2, TOL, "ssmax head0 i2");
}

Test(variants, learn_scaling_formula) {
    const float beta[2] = {0.5f, 0.25f}, gamma[2] = {2.0f, -1.0f};
    sp_qscale_params sq;
    memset(&sq, 0, sizeof sq);
    sq.kind = SP_QSCALE_LEARN;
    sq.heads = 3;
    sq.scaled_heads = 2;
    sq.delta = 1.0f;
    sq.log_offset = 2;
    sq.beta = beta;
    sq.gamma = gamma;
    float qs[2][3];
    sp_query_scale(&sq, 5, 2, NULL, NULL, &qs[0][0]);
    for (int r = 0; r < 2; r++) {
        double l = log(5.0 + r + 2.0);
        cr_assert_eq(qs[r][0], 1.0f);
        cr_assert(fabs(qs[r][1] - (1 + 0.5 * l * l)) <= TOL);
        cr_assert(fabs(qs[r][2] - (1 + 0.25 / l)) <= TOL);
    }
}

/* The stick-breaking example: one query with logits z = [0.5, −1, 2] for its earlier keys. The query's own key (a NaN
 * value) must not be used: stick-breaking attends to strictly earlier keys. */
Test(variants, stickbreaking_vector) {
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = p.kv_heads = 1;
    p.head_dim = 1;
    p.value_dim = 3;
    p.scale = 1.0f;
    p.causal = 1;
    p.norm = sp_norm_find("stickbreaking");
    const float q[1] = {1}, k[4] = {0.5f, -1, 2, 7};
    const float v[4][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {NAN, NAN, NAN}};
    float out[3];
    sp_attn_stats st = {0, 0, 0, 0, 0};
    sp_attention_forward(&p, q, k, &v[0][0], NULL, 3, 1, 4, out, &st);
    const double want[3] = {0.0542437944, 0.0320586033, 0.880797078};
    assert_close(out, want, 3, TOL, "A");
    double rem = 1 - (out[0] + out[1] + out[2]);
    cr_assert(fabs(rem - 0.0329005244) <= TOL);
    cr_assert_eq(st.visible, 3);
    cr_assert_eq(st.support, 3);
}

Test(variants, stickbreaking_query0_outputs_zeros_and_is_stable) {
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = p.kv_heads = 1;
    p.head_dim = p.value_dim = 1;
    p.scale = 1.0f;
    p.causal = 1;
    p.norm = sp_norm_find("stickbreaking");
    /* huge logits: log space keeps them finite; key 1 (β ≈ 1) takes everything */
    const float q[2] = {1, 1}, k[3] = {-500, 800, 3}, v[3] = {2, 3, 4};
    float out[2];
    sp_attention_forward(&p, q, k, v, NULL, 0, 2, 3, out, NULL);
    cr_assert_eq(out[0], 0.0f);
    cr_assert(fabs(out[1] - 0.0) <= TOL); /* query 1 sees key 0 only: σ(−500)·2 ≈ 0 */
    float out3[1];
    sp_attention_forward(&p, &q[0], k, v, NULL, 2, 1, 3, out3, NULL);
    cr_assert(fabs(out3[0] - 3.0) <= TOL, "%g", (double)out3[0]);
}

static float urand01(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 16777216.0f;
}

static sp_attn_params one_head(const char *norm) {
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = p.kv_heads = 1;
    p.head_dim = 1;
    p.value_dim = 1;
    p.scale = 1.0f;
    p.causal = 1;
    p.norm = sp_norm_find(norm);
    return p;
}

static const float Z8[8] = {0.9f, -1.2f, 0.35f, 1.6f, 0.1f, -0.3f, 1.25f, 0.0f};

Test(variants, topk_fixed) {
    sp_attn_params p = one_head("topk");
    p.topk = 3;
    const float q[1] = {1};
    float v[8], out[1];
    for (int j = 0; j < 8; j++) v[j] = (float)(1 << j);
    sp_attn_stats st = {0, 0, 0, 0, 0};
    sp_attention_forward(&p, q, Z8, v, NULL, 7, 1, 8, out, &st);
    /* keys 0, 3, 6 with p = 0.225590006, 0.454282492, 0.320127457 */
    double want = 0.225590006 * 1 + 0.454282492 * 8 + 0.320127457 * 64;
    cr_assert(fabs(out[0] - want) <= 1e-5, "%.9g vs %.9g", (double)out[0], want);
    cr_assert_eq(st.support, 3);
    /* an early row with fewer visible keys than k: plain softmax over them */
    float o1[1];
    sp_attention_forward(&p, q, Z8, v, NULL, 1, 1, 8, o1, NULL);
    double e = exp(-1.2 - 0.9);
    cr_assert(fabs(o1[0] - (1 + 2 * e) / (1 + e)) <= 1e-6);
}

Test(variants, topk_ties_lower_index_wins_and_div2) {
    sp_attn_params p = one_head("topk");
    p.topk = 2;
    const float q[1] = {1}, k[6] = {1, 2, 2, 2, 0, 2};
    const float v[6] = {1, 10, 100, 1000, 10000, 100000};
    float out[1];
    sp_attention_forward(&p, q, k, v, NULL, 5, 1, 6, out, NULL);
    cr_assert(fabs(out[0] - 55.0) <= 1e-4, "keys 1 and 2 win the tie: %g", (double)out[0]);
    /* div2: k = max(2, 6/2) = 3 → keys 1, 2, 3 */
    p.topk_div2 = 1;
    sp_attention_forward(&p, q, k, v, NULL, 5, 1, 6, out, NULL);
    cr_assert(fabs(out[0] - 370.0) <= 1e-3, "%g", (double)out[0]);
}

Test(variants, topk_long_row_matches_sort) {
    enum { N = 1000, K = 37 };
    static float z[N], v[N];
    unsigned s = 3;
    for (int j = 0; j < N; j++) {
        s = s * 1664525u + 1013904223u;
        z[j] = (float)((s >> 9) % 50) / 10.0f; /* many ties */
        v[j] = (float)j;
    }
    /* expected selection: rank by (score desc, index asc) with a plain O(n·k) scan */
    static int taken[N];
    memset(taken, 0, sizeof taken);
    double m = -1e30, num = 0, den = 0;
    int sel[K];
    for (int r = 0; r < K; r++) {
        int best = -1;
        for (int j = 0; j < N; j++)
            if (!taken[j] && (best < 0 || z[j] > z[best])) best = j;
        taken[best] = 1;
        sel[r] = best;
        if (z[best] > m) m = z[best];
    }
    for (int r = 0; r < K; r++) {
        double e = exp(z[sel[r]] - m);
        num += e * v[sel[r]];
        den += e;
    }
    sp_attn_params p = one_head("topk");
    p.topk = K;
    const float q[1] = {1};
    float out[1];
    sp_attention_forward(&p, q, z, v, NULL, N - 1, 1, N, out, NULL);
    cr_assert(fabs(out[0] - num / den) <= 1e-3, "%g vs %g", (double)out[0], num / den);
}

Test(variants, adaptive_softmax_reference) {
    float p[8];
    sp_adaptive_softmax(Z8, 8, p);
    const double w8[8] = {0.0705378577, 7.63463249e-05, 0.011795287, 0.687016428,
                          0.00523186894, 0.00142486673, 0.22013782, 0.00377951656};
    assert_close(p, w8, 8, TOL, "z8");
    const float a[3] = {3, 0, -1}; /* low entropy: β = 1 */
    sp_adaptive_softmax(a, 3, p);
    const double wa[3] = {0.936239541, 0.0466126204, 0.017147826};
    assert_close(p, wa, 3, TOL, "low entropy");
    const float b[4] = {0.1f, 0.2f, 0.0f, -0.1f};
    sp_adaptive_softmax(b, 4, p);
    const double wb[4] = {0.273392946, 0.357192218, 0.209253445, 0.160161436};
    assert_close(p, wb, 4, TOL, "near uniform");
    /* and through attention: one query over the 8 keys */
    sp_attn_params ap = one_head("adaptive_softmax");
    float v[8], out[1];
    for (int j = 0; j < 8; j++) v[j] = (float)j;
    const float q[1] = {1};
    sp_attention_forward(&ap, q, Z8, v, NULL, 7, 1, 8, out, NULL);
    double want = 0;
    for (int j = 0; j < 8; j++) want += w8[j] * j;
    cr_assert(fabs(out[0] - want) <= 1e-5);
}

/* Prefill (tiles of rows) and token-by-token decode (one row, cache = keys so far) must give the
 * same numbers for every normaliser, with GQA, ALiBi, soft cap and a window; so must 1 and 3
 * threads. Scores are spread wide enough that entmax rows are genuinely sparse. */
Test(variants, prefill_equals_decode_for_every_normaliser) {
    enum { L = 29, H = 4, HK = 2, D = 20, DV = 12 };
    static float q[L][H * D], k[L][HK * D], v[L][HK * DV], qs[L][H];
    static float pre[L][H * DV], dec[L][H * DV], thr[L][H * DV];
    unsigned s = 11;
    for (int i = 0; i < L; i++) {
        for (int x = 0; x < H * D; x++) q[i][x] = 3 * (urand01(&s) - 0.5f);
        for (int x = 0; x < HK * D; x++) k[i][x] = 3 * (urand01(&s) - 0.5f);
        for (int x = 0; x < HK * DV; x++) v[i][x] = urand01(&s) - 0.5f;
        for (int h = 0; h < H; h++) qs[i][h] = 0.5f + urand01(&s);
    }
    const float slopes[H] = {0.5f, 0.25f, 0, 0};
    const char *const norms[7] = {"softmax",          "entmax",        "entmax", "entmax",
                                  "adaptive_softmax", "stickbreaking", "topk"};
    const float alphas[7] = {0, 1.5f, 2.0f, 1.3f, 0, 0, 0};
    for (int c = 0; c < 7; c++) {
        for (int variant = 0; variant < 2; variant++) {
            sp_attn_params p;
            memset(&p, 0, sizeof p);
            p.heads = H;
            p.kv_heads = HK;
            p.head_dim = D;
            p.value_dim = DV;
            p.scale = 0.6f;
            p.causal = 1;
            p.norm = sp_norm_find(norms[c]);
            p.alpha = alphas[c];
            p.topk = 5;
            p.topk_div2 = variant;
            if (variant) {
                p.alibi_slopes = slopes;
                p.softcap = 4.0f;
                p.window = 9;
            }
            omp_set_num_threads(2);
            sp_attention_forward(&p, &q[0][0], &k[0][0], &v[0][0], &qs[0][0], 0, L, L,
                                 &pre[0][0], NULL);
            for (int i = 0; i < L; i++)
                sp_attention_forward(&p, q[i], &k[0][0], &v[0][0], qs[i], i, 1, i + 1, dec[i],
                                     NULL);
            cr_assert_eq(memcmp(pre, dec, sizeof pre), 0, "normaliser %d variant %d", c,
                         variant);
            omp_set_num_threads(3);
            sp_attention_forward(&p, &q[0][0], &k[0][0], &v[0][0], &qs[0][0], 0, L, L,
                                 &thr[0][0], NULL);
            cr_assert_eq(memcmp(pre, thr, sizeof pre), 0, "threads, normaliser %d", c);
        }
    }
}
