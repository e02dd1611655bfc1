/* sampler.c — a seeded PRNG and greedy / temperature / top-k / top-p sampling from one logits
 * row, with llama.cpp's repetition penalty over the recent ids. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_eval.h"

/* ---- PRNG: splitmix64 seeds xoshiro256** (public-domain algorithms by Vigna et al.) ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void sp_rng_seed(sp_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sp_rng_next(sp_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double sp_rng_uniform(sp_rng *r) { return (double)(sp_rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- sampling ---------------------------------------------------------------------------- */

int sp_sampler_init(sp_sampler *s, int32_t vocab, float temperature, float top_p,
                    uint64_t seed, sp_error *err) {
    memset(s, 0, sizeof *s);
    if (vocab <= 0) return sp_fail(err, SP_ERR_INPUT, "sampler: empty vocabulary");
    if (!(temperature >= 0.0f) || !isfinite(temperature))
        return sp_fail(err, SP_ERR_INPUT, "temperature must be a finite number >= 0");
    if (!(top_p > 0.0f && top_p <= 1.0f))
        return sp_fail(err, SP_ERR_INPUT, "top-p must be in (0, 1]");
    s->temperature = temperature;
    s->top_p = top_p;
    s->vocab = vocab;
    sp_rng_seed(&s->rng, seed);
    s->order = malloc((size_t)vocab * sizeof *s->order);
    s->prob = malloc((size_t)vocab * sizeof *s->prob);
    if (!s->order || !s->prob) {
        sp_sampler_free(s);
        return sp_fail(err, SP_ERR_RUNTIME, "sampler: out of memory");
    }
    return SP_OK;
}

void sp_sampler_free(sp_sampler *s) {
    free(s->order);
    free(s->prob);
    free(s->recent);
    free(s->recent_count);
    free(s->penalized);
    s->order = NULL;
    s->prob = NULL;
    s->recent = NULL;
    s->recent_count = NULL;
    s->penalized = NULL;
}

int sp_sampler_controls(sp_sampler *s, int32_t top_k, float repeat_penalty, size_t last_n,
                        sp_error *err) {
    if (top_k < 0) return sp_fail(err, SP_ERR_INPUT, "top-k must be >= 0");
    if (!(repeat_penalty > 0.0f) || !isfinite(repeat_penalty))
        return sp_fail(err, SP_ERR_INPUT, "the repeat penalty must be a finite number > 0");
    s->top_k = top_k < s->vocab ? top_k : 0; /* k >= vocab keeps every id */
    if (repeat_penalty == 1.0f || last_n == 0) return SP_OK;
    s->repeat_penalty = repeat_penalty;
    s->repeat_last_n = last_n;
    s->recent = malloc(last_n * sizeof *s->recent);
    s->recent_count = calloc((size_t)s->vocab, sizeof *s->recent_count);
    s->penalized = malloc((size_t)s->vocab * sizeof *s->penalized);
    if (!s->recent || !s->recent_count || !s->penalized)
        return sp_fail(err, SP_ERR_RUNTIME, "sampler: out of memory");
    return SP_OK;
}

void sp_sampler_accept(sp_sampler *s, int32_t id) {
    if (!s->recent || id < 0 || id >= s->vocab) return;
    if (s->n_recent == s->repeat_last_n) s->recent_count[s->recent[s->recent_next]]--;
    else s->n_recent++;
    s->recent[s->recent_next] = id;
    s->recent_count[id]++;
    s->recent_next = (s->recent_next + 1) % s->repeat_last_n;
}

/* The row with the penalty applied (float arithmetic, as llama.cpp), or the row itself. */
static const float *apply_penalty(sp_sampler *s, const float *logits) {
    if (!s->recent) return logits;
    float r = s->repeat_penalty;
    for (int32_t i = 0; i < s->vocab; i++) {
        float l = logits[i];
        s->penalized[i] = !s->recent_count[i] ? l : l > 0.0f ? l / r : l * r;
    }
    return s->penalized;
}

/* Top-k: the k most probable ids first in s->order; returns their mass (summed in that order). */
static double keep_top_k(sp_sampler *s, int32_t *kept);

/* Descending probability, then ascending id: a total order, so the result never depends on
 * the sort algorithm. */
static int by_prob_desc(const void *a, const void *b, void *ctx) {
    const double *p = ctx;
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (p[i] > p[j]) return -1;
    if (p[i] < p[j]) return 1;
    return (i > j) - (i < j);
}

int32_t sp_sample(sp_sampler *s, const float *row) {
    const float *logits = apply_penalty(s, row);
    int32_t v = s->vocab, best = 0;
    for (int32_t i = 1; i < v; i++)
        if (logits[i] > logits[best]) best = i;
    if (s->temperature <= 0.0f) return best;
    /* softmax(logits / T) up to its normaliser, in double. */
    double inv_t = 1.0 / (double)s->temperature, mx = (double)logits[best], total = 0.0;
    for (int32_t i = 0; i < v; i++) {
        s->prob[i] = exp(((double)logits[i] - mx) * inv_t);
        total += s->prob[i];
    }
    int32_t kept = v;
    for (int32_t i = 0; i < v; i++) s->order[i] = i;
    if (s->top_k > 0) {
        total = keep_top_k(s, &kept);
        if (s->top_p < 1.0f) { /* nucleus within the k kept */
            double cum = 0.0, target = (double)s->top_p * total;
            int32_t k = 0;
            while (k < kept) {
                cum += s->prob[s->order[k++]];
                if (cum >= target) break;
            }
            kept = k;
            total = cum;
        }
    } else if (s->top_p < 1.0f) {
        /* Nucleus: the smallest most-probable prefix whose mass reaches top_p. */
        qsort_r(s->order, (size_t)v, sizeof *s->order, by_prob_desc, s->prob);
        double cum = 0.0, target = (double)s->top_p * total;
        kept = 0;
        while (kept < v) {
            cum += s->prob[s->order[kept++]];
            if (cum >= target) break;
        }
        total = cum;
    }
    double u = sp_rng_uniform(&s->rng) * total, acc = 0.0;
    for (int32_t k = 0; k < kept; k++) {
        acc += s->prob[s->order[k]];
        if (u < acc) return s->order[k];
    }
    return s->order[kept - 1]; /* u rounded up to the total */
}


static double keep_top_k(sp_sampler *s, int32_t *kept) {
    qsort_r(s->order, (size_t)s->vocab, sizeof *s->order, by_prob_desc, s->prob);
    double total = 0.0;
    for (int32_t k = 0; k < s->top_k; k++) total += s->prob[s->order[k]];
    *kept = s->top_k;
    return total;
}
