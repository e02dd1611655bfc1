/* test_generate_sampler.c — the PRNG against an independent Python implementation
 * (tests/reference/generate_rng_vectors.py) and the sampling rules: greedy, temperature,
 * top-p, reproducibility by seed. */
#include <criterion/criterion.h>
#include <math.h>

#include "sparsa_eval.h"

Test(rng, matches_reference_vectors) {
    sp_rng r;
    sp_rng_seed(&r, 0);
    cr_assert_eq(sp_rng_next(&r), 0x99ec5f36cb75f2b4ull);
    cr_assert_eq(sp_rng_next(&r), 0xbf6e1f784956452aull);
    cr_assert_eq(sp_rng_next(&r), 0x1a5f849d4933e6e0ull);
    sp_rng_seed(&r, 42);
    cr_assert_eq(sp_rng_next(&r), 0x15780b2e0c2ec716ull);
    cr_assert_eq(sp_rng_next(&r), 0x6104d9866d113a7eull);
    cr_assert_eq(sp_rng_next(&r), 0xae17533239e499a1ull);
    for (int i = 0; i < 1000; i++) {
        double u = sp_rng_uniform(&r);
        cr_assert(u >= 0.0 && u < 1.0);
    }
}

Test(sampler, greedy_is_argmax_lowest_id_on_ties) {
    sp_sampler s;
    sp_error err = {0};
    cr_assert_eq(sp_sampler_init(&s, 5, 0.0f, 1.0f, 7, &err), 0);
    float l[5] = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
    for (int i = 0; i < 10; i++) cr_assert_eq(sp_sample(&s, l), 1);
    sp_sampler_free(&s);
}

/* Counts over many draws follow softmax(l / T) (a fixed seed makes this deterministic; the
 * bound is 5 standard deviations of a binomial count). */
Test(sampler, temperature_follows_softmax) {
    float l[4] = {1.0f, 0.0f, -1.0f, 0.5f};
    float temps[2] = {1.0f, 0.5f};
    for (int t = 0; t < 2; t++) {
        sp_sampler s;
        sp_error err = {0};
        cr_assert_eq(sp_sampler_init(&s, 4, temps[t], 1.0f, 123, &err), 0);
        int cnt[4] = {0};
        const int N = 40000;
        for (int i = 0; i < N; i++) cnt[sp_sample(&s, l)]++;
        double z = 0, p[4];
        for (int i = 0; i < 4; i++) z += exp(l[i] / temps[t]);
        for (int i = 0; i < 4; i++) {
            p[i] = exp(l[i] / temps[t]) / z;
            double sd = sqrt(N * p[i] * (1 - p[i]));
            cr_assert(fabs(cnt[i] - N * p[i]) < 5 * sd, "T=%g id %d: %d vs %g", temps[t], i,
                      cnt[i], N * p[i]);
        }
        sp_sampler_free(&s);
    }
}

Test(sampler, top_p_keeps_the_smallest_nucleus) {
    /* probabilities 0.5, 0.3, 0.15, 0.05 (ids shuffled) */
    float l[4] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
    sp_sampler s;
    sp_error err = {0};
    cr_assert_eq(sp_sampler_init(&s, 4, 1.0f, 0.7f, 9, &err), 0);
    int cnt[4] = {0};
    for (int i = 0; i < 20000; i++) cnt[sp_sample(&s, l)]++;
    cr_assert_eq(cnt[0], 0);
    cr_assert_eq(cnt[2], 0);
    cr_assert(cnt[1] > 0 && cnt[3] > 0);
    /* renormalised 0.5 / 0.8 */
    cr_assert(fabs(cnt[1] / 20000.0 - 0.625) < 0.02, "%d", cnt[1]);
    sp_sampler_free(&s);
    cr_assert_eq(sp_sampler_init(&s, 4, 1.0f, 0.01f, 9, &err), 0);
    for (int i = 0; i < 100; i++) cr_assert_eq(sp_sample(&s, l), 1);
    sp_sampler_free(&s);
}

Test(sampler, same_seed_same_tokens_other_seed_differs) {
    float l[50];
    for (int i = 0; i < 50; i++) l[i] = (float)((i * 37) % 11) * 0.3f;
    int32_t a[64], b[64], c[64];
    uint64_t seeds[3] = {5, 5, 6};
    int32_t *out[3] = {a, b, c};
    for (int k = 0; k < 3; k++) {
        sp_sampler s;
        sp_error err = {0};
        cr_assert_eq(sp_sampler_init(&s, 50, 1.3f, 0.9f, seeds[k], &err), 0);
        for (int i = 0; i < 64; i++) out[k][i] = sp_sample(&s, l);
        sp_sampler_free(&s);
    }
    cr_assert(memcmp(a, b, sizeof a) == 0);
    cr_assert(memcmp(a, c, sizeof a) != 0);
}

Test(sampler, bad_parameters_are_input_errors) {
    sp_sampler s;
    sp_error err = {0};
    cr_assert_eq(sp_sampler_init(&s, 4, -1.0f, 1.0f, 0, &err), SP_ERR_INPUT);
    cr_assert_eq(sp_sampler_init(&s, 4, NAN, 1.0f, 0, &err), SP_ERR_INPUT);
    cr_assert_eq(sp_sampler_init(&s, 4, 1.0f, 0.0f, 0, &err), SP_ERR_INPUT);
    cr_assert_eq(sp_sampler_init(&s, 4, 1.0f, 1.5f, 0, &err), SP_ERR_INPUT);
    cr_assert_eq(sp_sampler_init(&s, 0, 1.0f, 1.0f, 0, &err), SP_ERR_INPUT);
}
