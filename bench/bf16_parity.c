/* bf16_parity.c — the CPU's bf16 compute (--precision bf16) against fp32 on one model: the same
 * file opened twice (sp_model_options precision fp32 and bf16), the same windows run through
 * both, and per scored row the next-token NLL of each and the KL divergence KL(fp32 ‖ bf16).
 *
 *   bf16_parity MODEL IDS.txt CTX [--windows W] [--threads T]
 *
 * IDS.txt holds token ids separated by spaces or commas (`sparsa tokenize MODEL - < text`).
 * Windows are consecutive, non-overlapping runs of CTX ids (at most W, default all); in each,
 * rows 0..CTX-2 are scored against the next id. Prints one line of key=value pairs: the PPL of
 * each precision, |ΔPPL|/PPL, the mean and largest per-row KL (nats), and the wall and CPU
 * seconds of the forwards of each (the logits are scored after each pair of forwards, outside
 * the timings; the speed-up is fp32 time / bf16 time). Set OMP_WAIT_POLICY=passive on a shared
 * machine, as the sparsa command does, or waiting threads spin into the CPU time. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_backend.h"
#include "sparsa_interp.h"
#include "bench_util.h"

typedef struct {
    size_t vocab;
    float *dst;              /* [n][vocab]: the window's logits */
} store;

typedef struct {
    double nll32, nll16, kl, kl_max;
    size_t rows;
} acc;

/* log Σ exp of a row, in double. */
static double lse(const float *row, size_t vocab) {
    double mx = row[0], z = 0;
    for (size_t v = 1; v < vocab; v++) mx = fmax(mx, row[v]);
    for (size_t v = 0; v < vocab; v++) z += exp(row[v] - mx);
    return mx + log(z);
}

/* The logits are only stored while the forward runs (so the timings are the forwards'). */
static int sink(void *user, size_t first, size_t n_rows, const float *logits) {
    store *st = user;
    memcpy(st->dst + first * st->vocab, logits, n_rows * st->vocab * sizeof(float));
    return 0;
}

/* Rows 0..n-2 of a window: the NLL of the next id under each precision and KL(p ‖ q). */
static void score(acc *a, const float *p32, const float *q16, const int32_t *next, size_t n, size_t vocab) {
    for (size_t row = 0; row + 1 < n; row++) {
        const float *p = p32 + row * vocab, *q = q16 + row * vocab;
        double lp = lse(p, vocab), lq = lse(q, vocab), kl = 0;
        for (size_t v = 0; v < vocab; v++) {
            double pl = p[v] - lp;
            kl += exp(pl) * (pl - (q[v] - lq));
        }
        a->nll32 += lp - p[next[row]];
        a->nll16 += lq - q[next[row]];
        a->kl += kl;
        a->kl_max = fmax(a->kl_max, kl);
        a->rows++;
    }
}

static int32_t *read_ids(const char *path, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    long v;
    while (ids && fscanf(f, " %ld ,", &v) == 1) {
        if (len == cap) ids = realloc(ids, (cap *= 2) * sizeof *ids);
        if (ids) ids[len++] = (int32_t)v;
    }
    fclose(f);
    *n = len;
    return ids;
}

static sp_model *open_as(const char *path, int precision) {
    sp_model_options o = {.device = "cpu", .precision = precision};
    sp_model *m = NULL;
    sp_error err = {0};
    if (sp_model_open_opts(path, &o, &m, &err)) {
        fprintf(stderr, "bf16_parity: %s\n", err.msg);
        exit(2);
    }
    return m;
}

static void forward(sp_model *m, int threads, const int32_t *tok, size_t n, store *a, double *wall,
                    double *cpu) {
    sp_session *s = NULL;
    sp_error err = {0};
    double w0 = now(), c0 = cpu_now();
    if (sp_session_create(m, n, threads, &s, &err) || sp_session_forward(s, tok, n, 0, sink, a, &err)) {
        fprintf(stderr, "bf16_parity: %s\n", err.msg);
        exit(1);
    }
    *wall += now() - w0;
    *cpu += cpu_now() - c0;
    sp_session_free(s);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bf16_parity MODEL IDS.txt CTX [--windows W] [--threads T]\n");
        return 2;
    }
    size_t ctx = strtoul(argv[3], NULL, 10), max_windows = SIZE_MAX, n_ids = 0;
    int threads = 0;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--windows")) max_windows = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    }
    int32_t *ids = read_ids(argv[2], &n_ids);
    if (!ids || ctx < 2 || n_ids < ctx) {
        fprintf(stderr, "bf16_parity: need at least CTX ids in %s\n", argv[2]);
        return 2;
    }
    sp_model *m32 = open_as(argv[1], SP_PREC_FP32), *m16 = open_as(argv[1], SP_PREC_BF16);
    size_t vocab = (size_t)sp_model_vocab_size(m32);
    store s32 = {vocab, malloc(ctx * vocab * sizeof(float))};
    store s16 = {vocab, malloc(ctx * vocab * sizeof(float))};
    if (!s32.dst || !s16.dst) {
        fprintf(stderr, "bf16_parity: out of memory\n");
        return 1;
    }
    acc a = {0};
    double w32 = 0, c32 = 0, w16 = 0, c16 = 0;
    size_t windows = 0;
    for (size_t at = 0; at + ctx <= n_ids && windows < max_windows; at += ctx, windows++) {
        forward(m32, threads, ids + at, ctx, &s32, &w32, &c32);
        forward(m16, threads, ids + at, ctx, &s16, &w16, &c16);
        score(&a, s32.dst, s16.dst, ids + at + 1, ctx, vocab);
    }
    double p32 = exp(a.nll32 / (double)a.rows), p16 = exp(a.nll16 / (double)a.rows);
    printf("model=%s ctx=%zu windows=%zu rows=%zu ppl_fp32=%.6f ppl_bf16=%.6f rel_dppl=%.3g "
           "mean_kl=%.3g max_kl=%.3g fp32_wall_s=%.3f bf16_wall_s=%.3f fp32_cpu_s=%.3f bf16_cpu_s=%.3f "
           "speedup_wall=%.2f speedup_cpu=%.2f\n",
           argv[1], ctx, windows, a.rows, p32, p16, fabs(p16 - p32) / p32, a.kl / (double)a.rows, a.kl_max,
           w32, w16, c32, c16, w32 / w16, c32 / c16);
    free(s32.dst);
    free(s16.dst);
    free(ids);
    sp_model_free(m32);
    sp_model_free(m16);
    return 0;
}
