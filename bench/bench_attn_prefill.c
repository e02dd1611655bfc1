/* bench_attn_prefill.c — the attention kernel at the bench Llama's shape: causal softmax
 * prefill over L tokens, 8 heads of 64 with K and V interleaved by head as in the KV cache
 * (row stride heads × 64), what `sparsa perplexity --ctx L` runs once per layer.
 *
 *   bench_attn_prefill [--heads H] [--kv-heads HK] [--norm NAME] [--reps N] L ...
 *
 * Prints, per L: the best of N wall times, GFLOP/s counting the causal work only (4·d per
 * visible (query, key) pair: QKᵀ and PV), and an FNV-1a hash of the output's bits, so a change
 * of kernel can be checked for identical results in the same run. Threads: OMP_NUM_THREADS.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "bench_util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float uniform(void) { /* xorshift64 → [−1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static uint64_t fnv1a(const float *x, size_t n) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int bench_one(const sp_attn_params *p, size_t L, int reps) {
    const int H = p->heads, Hk = p->kv_heads, d = p->head_dim;
    float *q = malloc(L * (size_t)H * d * sizeof(float));
    float *k = malloc(L * (size_t)Hk * d * sizeof(float));
    float *v = malloc(L * (size_t)Hk * d * sizeof(float));
    float *o = malloc(L * (size_t)H * d * sizeof(float));
    if (!q || !k || !v || !o) {
        fprintf(stderr, "bench_attn_prefill: out of memory at L=%zu\n", L);
        return 1;
    }
    /* scores of a few units, as in a trained model's attention */
    for (size_t i = 0; i < L * (size_t)H * d; i++) q[i] = 2.0f * uniform();
    for (size_t i = 0; i < L * (size_t)Hk * d; i++) {
        k[i] = 2.0f * uniform();
        v[i] = uniform();
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        sp_attention_forward(p, q, k, v, NULL, 0, L, L, o, NULL);
        const double t = now() - t0;
        best = t < best ? t : best;
    }
    const double flops = 4.0 * d * H * (double)L * (double)(L + 1) / 2.0;
    printf("%8zu %10.4f %10.1f  %016llx\n", L, best, flops / best * 1e-9,
           (unsigned long long)fnv1a(o, L * (size_t)H * d));
    free(q);
    free(k);
    free(v);
    free(o);
    return 0;
}

int main(int argc, char **argv) {
    sp_attn_params p;
    memset(&p, 0, sizeof p);
    p.heads = p.kv_heads = 8;
    p.head_dim = p.value_dim = 64;
    p.causal = 1;
    p.alpha = 1.5f;
    const char *norm = "softmax";
    int reps = 3, i = 1;
    for (; i + 1 < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
        if (!strcmp(argv[i], "--heads")) p.heads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--kv-heads")) p.kv_heads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--norm")) norm = argv[i + 1];
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else break;
    }
    p.norm = sp_norm_find(norm);
    if (i >= argc || !p.norm || p.heads < 1 || p.kv_heads < 1 || p.heads % p.kv_heads ||
        reps < 1) {
        fprintf(stderr, "usage: bench_attn_prefill [--heads H] [--kv-heads HK] [--norm NAME] "
                        "[--reps N] L ...\n");
        return 2;
    }
    p.scale = 1.0f / sqrtf((float)p.head_dim);
    printf("attention prefill: %s, %d heads (kv %d) of %d, causal\n", norm, p.heads, p.kv_heads,
           p.head_dim);
    printf("%8s %10s %10s  %s\n", "L", "best_s", "GFLOP/s", "output hash");
    for (; i < argc; i++) {
        const long L = atol(argv[i]);
        if (L < 1) {
            fprintf(stderr, "bench_attn_prefill: bad length %s\n", argv[i]);
            return 2;
        }
        if (bench_one(&p, (size_t)L, reps)) return 1;
    }
    return 0;
}
