/* ppl_execute.c — running a planned perplexity run (sp_ppl_execute): every (ctx, file) in
 * order, window by window, with optional per-head sparsity and a progress line; and its report
 * (sp_ppl_report). Sums are formed in a fixed order, so results do not depend on threads. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "ppl_job.h"

/* The progress line goes to stderr, only when the caller asked (stderr is a terminal). */
typedef struct progress {
    int on;
    double t0;
    uint64_t done, total;
} progress;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress_show(progress *p, size_t ctx, const char *file, size_t k, size_t w) {
    if (!p->on) return;
    double dt = now_s() - p->t0;
    double rate = dt > 0 ? (double)p->done / dt : 0;
    fprintf(stderr, "\r\033[Kctx %zu  %s  window %zu/%zu  %.0f%%  %.0f tokens/s", ctx, file, k,
            w, p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, rate);
    fflush(stderr);
}

/* Mean support and zero fraction of every head of the last file run, attached to row. */
static int collect_stats(sp_ppl_run *run, sp_ppl_row *row, sp_error *err) {
    size_t layers = sp_model_layer_count(run->model);
    if (!layers) return SP_OK;
    size_t total = 0;
    for (size_t l = 0; l < layers; l++) total += (size_t)run->heads[l];
    sp_head_sparsity *block = calloc(total ? total : 1, sizeof *block);
    const sp_head_sparsity **ptrs = calloc(layers, sizeof *ptrs);
    if (!block || !ptrs) {
        free(block);
        free(ptrs);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    run->sparsity_blocks[run->n_blocks] = block;
    run->sparsity_ptrs[run->n_blocks] = ptrs;
    run->n_blocks++;
    size_t off = 0;
    for (size_t l = 0; l < layers; l++) {
        const sp_head_stats *hs = sp_session_stats(run->sess, l);
        ptrs[l] = block + off;
        for (int h = 0; h < run->heads[l]; h++) {
            sp_head_sparsity *o = &block[off + (size_t)h];
            o->mean_support = hs && hs[h].rows ? (double)hs[h].support / (double)hs[h].rows : NAN;
            o->zero_fraction = hs && hs[h].visible
                                   ? 1.0 - (double)hs[h].support / (double)hs[h].visible
                                   : NAN;
            o->skipped_tiles = hs && hs[h].tiles
                                   ? (double)hs[h].tiles_skipped / (double)hs[h].tiles
                                   : NAN;
        }
        off += (size_t)run->heads[l];
    }
    row->layers = layers;
    row->heads = run->heads;
    row->sparsity = ptrs;
    return SP_OK;
}

static int allocate_results(sp_ppl_run *run, sp_error *err) {
    size_t n_files = run->job.n_corpora, layers = sp_model_layer_count(run->model);
    run->rows = calloc(run->n_ctx * (n_files + 1), sizeof *run->rows);
    run->heads = calloc(layers ? layers : 1, sizeof *run->heads);
    run->sparsity_blocks = calloc(run->n_ctx * n_files + 1, sizeof *run->sparsity_blocks);
    run->sparsity_ptrs = calloc(run->n_ctx * n_files + 1, sizeof *run->sparsity_ptrs);
    if (!run->rows || !run->heads || !run->sparsity_blocks || !run->sparsity_ptrs)
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t l = 0; l < layers; l++) run->heads[l] = sp_model_attention_heads(run->model, l);
    return SP_OK;
}

/* Every window of one corpus at one context length, into acc and one result row. */
static int run_file(sp_ppl_run *run, size_t ctx, const sp_ppl_corpus *c, int32_t *input,
                    progress *prog, sp_ppl_acc *acc, sp_error *err) {
    sp_ppl_plan plan;
    int rc = sp_ppl_plan_make(&run->job.protocol, ctx, c->n, &plan, err); /* checked before */
    sp_ppl_acc_init(acc);
    if (run->job.stats) sp_session_reset_stats(run->sess);
    for (size_t k = 0; k < plan.windows && !rc; k++) {
        progress_show(prog, ctx, c->path, k, plan.windows);
        size_t from = sp_ppl_window_input(&plan, c->ids, c->n, run->bos, k, input);
        size_t bad = 0;
        rc = sp_ppl_run_window(run->sess, run->vocab, input, ctx, from, acc, &bad, err);
        if (bad) /* never a printed nan: the run stops, naming where */
            rc = sp_fail(err, SP_ERR_RUNTIME, "non-finite NLL in %s, ctx %zu, window %zu, "
                         "position %zu", sp_corpus_name(c->path), ctx, k, bad);
        prog->done += ctx;
    }
    if (rc) return rc;
    sp_ppl_row *row = &run->rows[run->n_rows++];
    row->file = c->path;
    row->files = 1;
    row->ctx = ctx;
    sp_ppl_result_of(acc, &row->r);
    return run->job.stats ? collect_stats(run, row, err) : SP_OK;
}

int sp_ppl_execute(sp_ppl_run *run, sp_error *err) {
    int rc = sp_session_create(run->model, run->max_ctx, run->job.threads, &run->sess, err);
    if (rc) return rc;
    if (run->job.stats) sp_session_enable_stats(run->sess, 1);
    if ((rc = allocate_results(run, err))) return rc;
    int32_t *input = malloc(run->max_ctx * sizeof *input);
    if (!input) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    progress prog = {run->job.progress, now_s(), 0, run->window_tokens};
    for (size_t c = 0; c < run->n_ctx && !rc; c++) {
        sp_ppl_acc all, file_acc;
        sp_ppl_acc_init(&all);
        for (size_t f = 0; f < run->job.n_corpora && !rc; f++) {
            rc = run_file(run, run->ctx[c], &run->corpora[f], input, &prog, &file_acc, err);
            if (!rc) sp_ppl_acc_merge(&all, &file_acc);
        }
        if (rc) break;
        sp_ppl_row *avg = &run->rows[run->n_rows++];
        avg->file = NULL;
        avg->files = run->job.n_corpora;
        avg->ctx = run->ctx[c];
        sp_ppl_result_of(&all, &avg->r);
    }
    free(input);
    if (prog.on) fputs("\r\033[K", stderr);
    return rc;
}

void sp_ppl_report(const sp_ppl_run *run, FILE *out, int json) {
    sp_ppl_report_info info = {run->job.model_path, &run->job.protocol, run->ctx, run->n_ctx};
    if (json) sp_ppl_print_json(out, &info, run->rows, run->n_rows);
    else sp_ppl_print_table(out, &info, run->rows, run->n_rows);
}
