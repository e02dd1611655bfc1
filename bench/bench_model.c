/* bench_model.c — perplexity-style prefill and KV-cache decode of one model through the
 * interpreter API, timed inside the process.
 *
 *   bench_model MODEL TOKENS.bin WINDOW [--threads T] [--reps R] [--decode N]
 *
 * Prefill: one window of WINDOW tokens (from TOKENS.bin, int32 little-endian) is run as a whole
 * (sp_session_forward on a fresh cache) and every row's logits are reduced to the NLL of the
 * next token, as `sparsa perplexity` does; median of R runs. Decode: N tokens one at a time
 * through the KV cache from an empty cache. Prints one line of key=value pairs: tokens/s (per
 * wall second, and per CPU second of all threads: the cost on a shared machine), mean
 * NLL (to check against the PyTorch peer), GFLOP/s inside the matrix products and the share of
 * the time they take, and the process's peak RSS.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "gemm.h"
#include "sparsa_eval.h"
#include "sparsa_interp.h"
#include "bench_util.h"

typedef struct nll_sink {
    const int32_t *tokens;
    size_t n;       /* window length: rows 0..n-2 have a target */
    int32_t vocab;
    double sum;
    size_t count;
} nll_sink;

static int sink_nll(void *user, size_t first_row, size_t n_rows, const float *logits) {
    nll_sink *s = user;
    for (size_t r = 0; r < n_rows; r++) {
        size_t row = first_row + r;
        if (row + 1 >= s->n) continue;
        /* the reduction `sparsa perplexity` uses */
        s->sum += sp_nll_of_row(logits + r * (size_t)s->vocab, s->vocab, s->tokens[row + 1]);
        s->count++;
    }
    return 0;
}

static int null_sink(void *user, size_t first_row, size_t n_rows, const float *logits) {
    (void)user, (void)first_row, (void)n_rows, (void)logits;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_model MODEL TOKENS.bin WINDOW [--threads T] [--reps R] "
                        "[--decode N]\n");
        return 2;
    }
    const char *model_path = argv[1], *tok_path = argv[2];
    size_t window = (size_t)strtoul(argv[3], NULL, 10);
    int threads = 0, reps = 3;
    size_t decode = 0;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--decode")) decode = (size_t)strtoul(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "bench_model: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (window < 2 || reps < 1 || reps > 100) {
        fprintf(stderr, "bench_model: WINDOW must be >= 2 and --reps 1..100\n");
        return 2;
    }
    if (threads > 0) omp_set_num_threads(threads);

    FILE *f = fopen(tok_path, "rb");
    if (!f) {
        fprintf(stderr, "bench_model: cannot open %s\n", tok_path);
        return 2;
    }
    size_t need = window > decode ? window : decode;
    int32_t *tokens = malloc(need * sizeof(int32_t));
    if (!tokens || fread(tokens, sizeof(int32_t), need, f) != need) {
        fprintf(stderr, "bench_model: %s holds fewer than %zu tokens\n", tok_path, need);
        fclose(f);
        return 2;
    }
    fclose(f);

    sp_error err = {0};
    sp_model *m = NULL;
    sp_session *s = NULL;
    if (sp_model_open(model_path, &m, &err) != 0) {
        fprintf(stderr, "bench_model: %s\n", err.msg);
        return 2;
    }
    if (sp_session_create(m, need, threads, &s, &err) != 0) {
        fprintf(stderr, "bench_model: %s\n", err.msg);
        sp_model_free(m);
        return 1;
    }
    int32_t vocab = sp_model_vocab_size(m);
    for (size_t i = 0; i < need; i++) tokens[i] %= vocab;

    double *tps = malloc((size_t)reps * sizeof(double)), *cps = malloc((size_t)reps * sizeof(double));
    double nll = 0;
    double gflops_sum = 0, gfrac_sum = 0;
    for (int r = 0; r < reps; r++) {
        nll_sink ns = {tokens, window, vocab, 0, 0};
        sp_session_reset(s);
        sp_gemm_stats_reset();
        double t0 = now(), c0 = cpu_now();
        if (sp_session_forward(s, tokens, window, 0, sink_nll, &ns, &err) != 0) {
            fprintf(stderr, "bench_model: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0, gf, gs;
        sp_gemm_stats(&gf, &gs);
        tps[r] = (double)window / dt;
        cps[r] = (double)window / (cpu_now() - c0);
        gflops_sum += gs > 0 ? gf / gs / 1e9 : 0;
        gfrac_sum += gs / dt;
        nll = ns.sum / (double)ns.count;
    }
    qsort(tps, (size_t)reps, sizeof *tps, cmp_double);
    qsort(cps, (size_t)reps, sizeof *cps, cmp_double);

    double decode_tps = 0;
    if (decode > 0) {
        sp_session_reset(s);
        double t0 = now();
        for (size_t i = 0; i < decode; i++)
            if (sp_session_forward(s, tokens + i, 1, 0, null_sink, NULL, &err) != 0) {
                fprintf(stderr, "bench_model: %s\n", err.msg);
                return 1;
            }
        decode_tps = (double)decode / (now() - t0);
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("impl=sparsa window=%zu threads=%d tokens_per_s=%.1f tokens_per_cpu_s=%.1f nll=%.6f "
           "gemm_gflops=%.1f gemm_share=%.3f decode_tokens_per_s=%.1f rss_mb=%.1f isa=%s\n",
           window, threads > 0 ? threads : omp_get_max_threads(), tps[reps / 2], cps[reps / 2], nll,
           gflops_sum / reps, gfrac_sum / reps, decode_tps, (double)ru.ru_maxrss / 1024.0,
           sp_gemm_isa());
    free(tps);
    free(cps);
    free(tokens);
    sp_session_free(s);
    sp_model_free(m);
    return 0;
}
