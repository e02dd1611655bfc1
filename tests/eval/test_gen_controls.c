/* test_gen_controls.c — the sampler's controls and the Wilson interval through eval/'s API:
 * the repetition penalty looks only at the last N accepted ids (the ring slides) and applies
 * once per distinct id, top-k never returns an id outside the K largest, controls left off
 * change nothing, and sp_wilson_interval equals the formula in double at the edges (0 and n
 * of n, n = 0). */
#include <criterion/criterion.h>
#include <math.h>

#include "sparsa_eval.h"

Test(gen_controls, penalty_window_slides_and_counts_ids_once) {
    sp_sampler s;
    sp_error err = {0};
    cr_assert_eq(sp_sampler_init(&s, 4, 0.0f, 1.0f, 0, &err), 0);
    cr_assert_eq(sp_sampler_controls(&s, 0, 4.0f, 2, &err), 0);
    const float row[4] = {1.0f, 3.0f, 2.9f, -1.0f};
    cr_assert_eq(sp_sample(&s, row), 1, "nothing accepted: the plain argmax");
    sp_sampler_accept(&s, 1);
    sp_sampler_accept(&s, 1);  /* twice: still divided once, 3/4 = 0.75 */
    cr_assert_eq(sp_sample(&s, row), 2);
    sp_sampler_accept(&s, 2);  /* window {1, 2}: 1 → 0.75, 2 → 0.725; 0 wins with 1.0 */
    cr_assert_eq(sp_sample(&s, row), 0);
    sp_sampler_accept(&s, 3);
    sp_sampler_accept(&s, 3);  /* window {3, 3}: 1 and 2 are free again */
    cr_assert_eq(sp_sample(&s, row), 1);
    const float neg[4] = {-2.0f, -1.0f, -1.5f, -3.0f};
    sp_sampler_accept(&s, 1);  /* window {3, 1}: -1 · 4 = -4 */
    cr_assert_eq(sp_sample(&s, neg), 2, "a negative logit is multiplied");
    sp_sampler_free(&s);
}

Test(gen_controls, top_k_keeps_the_k_largest_and_off_is_unchanged) {
    float row[50];
    for (int i = 0; i < 50; i++) row[i] = (float)((i * 37) % 50) / 10.0f;
    /* (37 i) mod 50 is a permutation of 0..49: the three largest are its values 47, 48, 49 */
    sp_error err = {0};
    for (uint64_t seed = 0; seed < 200; seed++) {
        sp_sampler a, b;
        cr_assert_eq(sp_sampler_init(&a, 50, 3.0f, 1.0f, seed, &err), 0);
        cr_assert_eq(sp_sampler_controls(&a, 3, 1.0f, 64, &err), 0);
        int32_t id = sp_sample(&a, row);
        cr_assert((id * 37) % 50 >= 47, "seed %llu: %d", (unsigned long long)seed, (int)id);
        sp_sampler_free(&a);
        /* controls off: the same draw as a sampler never configured */
        cr_assert_eq(sp_sampler_init(&a, 50, 1.3f, 0.9f, seed, &err), 0);
        cr_assert_eq(sp_sampler_init(&b, 50, 1.3f, 0.9f, seed, &err), 0);
        cr_assert_eq(sp_sampler_controls(&b, 0, 1.0f, 64, &err), 0);
        cr_assert_eq(sp_sample(&a, row), sp_sample(&b, row));
        sp_sampler_free(&a);
        sp_sampler_free(&b);
    }
    sp_sampler s;
    cr_assert_eq(sp_sampler_init(&s, 50, 1.0f, 1.0f, 0, &err), 0);
    cr_assert_eq(sp_sampler_controls(&s, 0, 0.0f, 64, &err), SP_ERR_INPUT);
    cr_assert_eq(sp_sampler_controls(&s, 0, NAN, 64, &err), SP_ERR_INPUT);
    sp_sampler_free(&s);
}

Test(gen_controls, wilson_interval_equals_the_formula) {
    const size_t cases[][2] = {{0, 10}, {10, 10}, {3, 10}, {1, 1}, {17, 64}, {500, 1000}};
    const double z = 1.959963984540054;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double k = (double)cases[c][0], n = (double)cases[c][1], p = k / n, lo, hi;
        sp_wilson_interval(cases[c][0], cases[c][1], &lo, &hi);
        double centre = (p + z * z / (2 * n)) / (1 + z * z / n);
        double half = z / (1 + z * z / n) * sqrt(p * (1 - p) / n + z * z / (4 * n * n));
        cr_assert(fabs(lo - fmax(0, centre - half)) <= 1e-12, "%g/%g low %.17g", k, n, lo);
        cr_assert(fabs(hi - fmin(1, centre + half)) <= 1e-12, "%g/%g high %.17g", k, n, hi);
        cr_assert(lo <= p && p <= hi);
    }
    double lo, hi;
    sp_wilson_interval(0, 0, &lo, &hi);
    cr_assert(lo == 0.0 && hi == 1.0);
    sp_wilson_interval(6, 6, &lo, &hi);
    cr_assert(fabs(lo - 0.609666) < 1e-6, "6 of 6: %.9f", lo);
}
