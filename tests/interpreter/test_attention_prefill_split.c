/* test_attention_prefill_split.c — the tiled prefill's ways of splitting its work give the same
 * bits: with several key/value heads a prefill reads each one packed into contiguous rows
 * (interpreter/attention/attention_tiled.c), a decode reads the cache rows directly; whole
 * prefill, a prefill in two calls, decode row by row and 1, 2 or 3 threads must all agree bit
 * for bit, for softmax and entmax-1.5, with and without GQA, on lengths that are not multiples
 * of the tiles. Keys past the last query of a call (a cache holding more than the call sees)
 * are never read: NaN there changes nothing. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float urand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

typedef struct shape {
    int L, H, HK, d;
    float alpha; /* 0: softmax */
} shape;

typedef struct inputs {
    float *q, *k, *v;
    size_t nq, nk, no; /* floats in q, in k (= in v), in one output */
} inputs;

static sp_attn_params params_of(const shape *s) {
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = s->H;
    p.kv_heads = s->HK;
    p.head_dim = p.value_dim = s->d;
    p.scale = 1.0f / sqrtf((float)s->d);
    p.causal = 1;
    p.alpha = s->alpha;
    p.norm = sp_norm_find(s->alpha == 0 ? "softmax" : "entmax");
    cr_assert(p.norm);
    return p;
}

static inputs make_inputs(const shape *s) {
    inputs in = {.nq = (size_t)s->L * s->H * s->d, .nk = (size_t)s->L * s->HK * s->d,
                 .no = (size_t)s->L * s->H * s->d};
    in.q = malloc(in.nq * sizeof(float));
    in.k = malloc(in.nk * sizeof(float));
    in.v = malloc(in.nk * sizeof(float));
    cr_assert(in.q && in.k && in.v);
    const float spread = s->alpha == 0 ? 1.5f : 3.0f; /* entmax rows genuinely sparse */
    for (size_t i = 0; i < in.nq; i++) in.q[i] = spread * urand();
    for (size_t i = 0; i < in.nk; i++) in.k[i] = spread * urand();
    for (size_t i = 0; i < in.nk; i++) in.v[i] = urand();
    return in;
}

static float *prefill(const sp_attn_params *p, const inputs *in, int L, int threads) {
    float *out = malloc(in->no * sizeof(float));
    cr_assert(out);
    omp_set_num_threads(threads);
    sp_attention_forward(p, in->q, in->k, in->v, NULL, 0, (size_t)L, (size_t)L, out, NULL);
    return out;
}

static void check_splits(const shape *s, const char *what) {
    const sp_attn_params p = params_of(s);
    inputs in = make_inputs(s);
    const size_t qrow = (size_t)s->H * s->d;
    float *one = prefill(&p, &in, s->L, 1), *two = prefill(&p, &in, s->L, 2);
    float *three = prefill(&p, &in, s->L, 3);
    cr_assert(memcmp(one, two, in.no * sizeof(float)) == 0, "%s: 2 threads differ from 1", what);
    cr_assert(memcmp(one, three, in.no * sizeof(float)) == 0, "%s: 3 threads differ from 1",
              what);
    /* two calls: rows [0, c) with c keys, then rows [c, L) with all L keys */
    float *split = malloc(in.no * sizeof(float)), *dec = malloc(in.no * sizeof(float));
    cr_assert(split && dec);
    const size_t c = (size_t)s->L * 3 / 7;
    omp_set_num_threads(2);
    sp_attention_forward(&p, in.q, in.k, in.v, NULL, 0, c, c, split, NULL);
    sp_attention_forward(&p, in.q + c * qrow, in.k, in.v, NULL, c, (size_t)s->L - c,
                         (size_t)s->L, split + c * qrow, NULL);
    cr_assert(memcmp(one, split, in.no * sizeof(float)) == 0, "%s: two calls differ", what);
    for (int i = 0; i < s->L; i++)
        sp_attention_forward(&p, in.q + (size_t)i * qrow, in.k, in.v, NULL, (size_t)i, 1,
                             (size_t)i + 1, dec + (size_t)i * qrow, NULL);
    cr_assert(memcmp(one, dec, in.no * sizeof(float)) == 0, "%s: decode differs from prefill",
              what);
    free(one), free(two), free(three), free(split), free(dec);
    free(in.q), free(in.k), free(in.v);
}

Test(attention_prefill_split, softmax_gqa) {
    check_splits(&(shape){.L = 150, .H = 8, .HK = 2, .d = 64}, "softmax H 8 HK 2");
}
Test(attention_prefill_split, softmax_mha) {
    check_splits(&(shape){.L = 161, .H = 4, .HK = 4, .d = 32}, "softmax H 4 HK 4");
}
Test(attention_prefill_split, entmax_gqa) {
    check_splits(&(shape){.L = 150, .H = 6, .HK = 3, .d = 64, .alpha = 1.5f}, "entmax H 6 HK 3");
}
Test(attention_prefill_split, entmax_mha) {
    check_splits(&(shape){.L = 97, .H = 4, .HK = 4, .d = 16, .alpha = 1.5f}, "entmax H 4 HK 4");
}

/* A prefill of the first n rows over a cache of L keys: the keys past row n (here NaN in K and
 * V) are outside every query's view and are never read or packed. */
static void later_keys_unread(float alpha) {
    const shape s = {.L = 140, .H = 4, .HK = 2, .d = 32, .alpha = alpha};
    const sp_attn_params p = params_of(&s);
    inputs in = make_inputs(&s);
    const size_t n = 100, krow = (size_t)s.HK * s.d;
    float *clean = malloc(in.no * sizeof(float)), *poisoned = malloc(in.no * sizeof(float));
    cr_assert(clean && poisoned);
    omp_set_num_threads(2);
    sp_attention_forward(&p, in.q, in.k, in.v, NULL, 0, n, n, clean, NULL);
    for (size_t i = n * krow; i < in.nk; i++) in.k[i] = in.v[i] = NAN;
    sp_attention_forward(&p, in.q, in.k, in.v, NULL, 0, n, (size_t)s.L, poisoned, NULL);
    const size_t used = n * (size_t)s.H * s.d;
    cr_assert(memcmp(clean, poisoned, used * sizeof(float)) == 0,
              "alpha %g: a key past the call's last query changed an output", (double)alpha);
    for (size_t i = 0; i < used; i++) cr_assert(isfinite(clean[i]), "output %zu not finite", i);
    free(clean), free(poisoned);
    free(in.q), free(in.k), free(in.v);
}

Test(attention_prefill_split, later_keys_unread_softmax) { later_keys_unread(0); }
Test(attention_prefill_split, later_keys_unread_entmax) { later_keys_unread(1.5f); }
