/* attention_bench.c — the attention kernel alone: entmax-1.5 against softmax, one head,
 * d = 64, causal prefill over L tokens, on genuinely sparse scores.
 *
 * q and k are Gaussian with standard deviation σ per element, so a score q·k/√d has standard
 * deviation σ²; with σ² = 3 the row maximum stands several units above the bulk and most keys
 * fall more than 2 (the α = 1.5 gap) below it: they are exactly zero and skipped.
 *
 *   attention_bench [--std S] [L ...]   default: S = 3, L = 1024 4096 16384
 * (a small S, e.g. 0.3, gives dense rows: the worst case for entmax, every key a candidate)
 * Prints, per L: best-of-N time for softmax and entmax-1.5, the ratio, the fraction of
 * exactly-zero attention weights, the mean support, and the fraction of (query, key tile)
 * pairs whose value rows entmax never read (docs/ATTENTION_MATH.md#tiled-attention).
 * Threads: OMP_NUM_THREADS (run.sh pins 1 for a kernel view).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attention.h"
#include "bench_util.h"


static unsigned long long rng = 88172645463325252ull;
static double gauss(void) { /* Box–Muller on xorshift64 */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    double u = ((rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    double v = ((rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double run(sp_attn_params *p, const float *q, const float *k, const float *v, size_t L,
                  float *out, sp_attn_stats *st, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        memset(st, 0, sizeof *st);
        double t0 = now();
        sp_attention_forward(p, q, k, v, NULL, 0, L, L, out, st);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    size_t lens[16] = {1024, 4096, 16384};
    int nl = 3, first = 1;
    double score_std = 3.0;
    if (argc > 2 && !strcmp(argv[1], "--std")) {
        score_std = atof(argv[2]);
        first = 3;
        if (!(score_std > 0)) {
            fprintf(stderr, "attention_bench: --std needs a positive number\n");
            return 2;
        }
    }
    if (argc > first) {
        nl = 0;
        for (int i = first; i < argc && nl < 16; i++) lens[nl++] = (size_t)atol(argv[i]);
    }
    const int d = 64;
    const double sigma = sqrt(score_std); /* per-element std; score std = σ² */
    printf("attention kernel: 1 head, d=%d, causal prefill, score std %.2f\n", d, sigma * sigma);
    printf("%8s %12s %12s %8s %10s %10s %10s\n", "L", "softmax_s", "entmax15_s", "ratio", "zeros",
           "mean_supp", "tiles_skip");
    for (int li = 0; li < nl; li++) {
        size_t L = lens[li];
        float *q = malloc(L * d * sizeof(float)), *k = malloc(L * d * sizeof(float));
        float *v = malloc(L * d * sizeof(float)), *o = malloc(L * d * sizeof(float));
        if (!q || !k || !v || !o) {
            fprintf(stderr, "attention_bench: out of memory at L=%zu\n", L);
            return 1;
        }
        for (size_t i = 0; i < L * d; i++) {
            q[i] = (float)(sigma * gauss());
            k[i] = (float)(sigma * gauss());
            v[i] = (float)gauss();
        }
        sp_attn_params p;
        memset(&p, 0, sizeof p);
        p.heads = p.kv_heads = 1;
        p.head_dim = p.value_dim = d;
        p.scale = 1.0f / sqrtf((float)d);
        p.causal = 1;
        int reps = L <= 4096 ? 5 : 2;
        sp_attn_stats st;
        p.norm = sp_norm_find("softmax");
        double ts = run(&p, q, k, v, L, o, &st, reps);
        p.norm = sp_norm_find("entmax");
        p.alpha = 1.5f;
        double te = run(&p, q, k, v, L, o, &st, reps);
        double zeros = 1.0 - (double)st.support / (double)st.visible;
        printf("%8zu %12.6f %12.6f %8.3f %10.6f %10.2f %10.4f\n", L, ts, te, te / ts, zeros,
               (double)st.support / (double)st.rows,
               st.tiles ? (double)st.tiles_skipped / (double)st.tiles : 0.0);
        free(q);
        free(k);
        free(v);
        free(o);
    }
    return 0;
}
