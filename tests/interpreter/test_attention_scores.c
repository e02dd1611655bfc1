/* test_attention_scores.c — the eight-key score kernel gives exactly the bits of the one-key
 * kernel for every key (prefill scores keys in groups of eight, decode and row edges one at a
 * time: they must agree to the last bit), and both are q·k to float accuracy. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "attention_internal.h"

static uint32_t rng_state = 12345;
static float rnd(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

Test(attention_scores, eight_keys_at_once_equal_one_at_a_time_bit_for_bit) {
    const int dims[] = {1, 7, 15, 16, 17, 31, 32, 48, 64, 80, 96, 100, 128, 256};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const int d = dims[di];
        const size_t stride = (size_t)d * 3 + 5; /* keys interleaved with other heads' data */
        float q[256], keys[8 * (256 * 3 + 5)], got[8];
        for (int rep = 0; rep < 20; rep++) {
            float scale = rep % 3 == 0 ? 1e-3f : rep % 3 == 1 ? 1.0f : 40.0f;
            for (int x = 0; x < d; x++) q[x] = rnd() * scale;
            for (size_t i = 0; i < 8 * stride; i++) keys[i] = rnd() * scale;
            if (rep == 5) memset(q, 0, sizeof q); /* zero scores, signed zeros included */
            sp__score_dot8(q, keys, stride, d, got);
            for (int k = 0; k < 8; k++) {
                float want = sp__score_dot(q, keys + (size_t)k * stride, d);
                uint32_t a, b;
                memcpy(&a, &got[k], 4);
                memcpy(&b, &want, 4);
                cr_assert_eq(a, b, "d %d key %d: %.9g vs %.9g", d, k, got[k], want);
                double exact = 0, mag = 0;
                for (int x = 0; x < d; x++) {
                    exact += (double)q[x] * keys[(size_t)k * stride + x];
                    mag += fabs((double)q[x] * keys[(size_t)k * stride + x]);
                }
                cr_assert_leq(fabs(want - exact), 1e-6 * mag + 1e-30, "d %d key %d", d, k);
            }
        }
    }
}
