/* ppl_execute.c — running a planned perplexity run (sp_ppl_execute): every model, every
 * (ctx, file), window by window, each window's sums (and --by-position buckets) stored at its
 * place (ppl_job.h); optional per-head sparsity, the NLL dump and a progress line; then the
 * final reduction (ppl_reduce.c) and the report (sp_ppl_report). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ppl_job.h"

/* Mean support and zero fraction of every head of the last unit run, attached to row. */
static int collect_stats(sp_ppl_run *run, sp_model *model, sp_ppl_row *row, sp_error *err) {
    size_t layers = sp_model_layer_count(model);
    if (!layers) return SP_OK;
    int *heads = calloc(layers, sizeof *heads);
    size_t total = 0;
    for (size_t l = 0; heads && l < layers; l++) {
        heads[l] = sp_model_attention_heads(model, l);
        total += (size_t)heads[l];
    }
    sp_head_sparsity *block = calloc(total ? total : 1, sizeof *block);
    const sp_head_sparsity **ptrs = calloc(layers, sizeof *ptrs);
    if (!heads || !block || !ptrs) {
        free(heads);
        free(block);
        free(ptrs);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    run->sparsity_blocks[run->n_blocks] = block;
    run->sparsity_ptrs[run->n_blocks] = ptrs;
    run->heads_blocks[run->n_blocks] = heads;
    run->n_blocks++;
    size_t off = 0;
    for (size_t l = 0; l < layers; l++) {
        const sp_head_stats *hs = sp_session_stats(run->sess, l);
        ptrs[l] = block + off;
        for (int h = 0; h < heads[l]; h++) {
            sp_head_sparsity *o = &block[off + (size_t)h];
            o->mean_support = hs && hs[h].rows ? (double)hs[h].support / (double)hs[h].rows : NAN;
            o->zero_fraction = hs && hs[h].visible
                                   ? 1.0 - (double)hs[h].support / (double)hs[h].visible
                                   : NAN;
            o->skipped_tiles = hs && hs[h].tiles
                                   ? (double)hs[h].tiles_skipped / (double)hs[h].tiles
                                   : NAN;
        }
        off += (size_t)heads[l];
    }
    row->layers = layers;
    row->heads = heads;
    row->sparsity = ptrs;
    return SP_OK;
}

static int allocate_results(sp_ppl_run *run, sp_error *err) {
    size_t nf = run->job.n_corpora, nm = run->n_models;
    size_t n_rows = nm * run->n_ctx * (nf + 1), n_units = nm * run->n_ctx * nf + 1;
    size_t B = run->job.by_position;
    /* positions run up to max_ctx (a rolling window's last target) */
    run->n_buckets = B ? (run->max_ctx + 1 + B - 1) / B : 0;
    run->rows = calloc(n_rows, sizeof *run->rows);
    run->sums = calloc(nm * run->total_windows + 1, sizeof *run->sums);
    run->sparsity_blocks = calloc(n_units, sizeof *run->sparsity_blocks);
    run->sparsity_ptrs = calloc(n_units, sizeof *run->sparsity_ptrs);
    run->heads_blocks = calloc(n_units, sizeof *run->heads_blocks);
    if (B) {
        run->wbuckets = calloc(nm * run->total_windows * run->n_buckets + 1, sizeof *run->wbuckets);
        run->row_buckets = calloc(n_rows * run->n_buckets + 1, sizeof *run->row_buckets);
    }
    if (!run->rows || !run->sums || !run->sparsity_blocks || !run->sparsity_ptrs ||
        !run->heads_blocks || (B && (!run->wbuckets || !run->row_buckets)))
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    return SP_OK;
}

/* Window k of unit u as a sequence: seq[0..*len), of which *feed tokens are run; returns the
 * first target position. */
static size_t window_seq(const sp_ppl_run *run, const sp_ppl_unit *u, size_t k, int32_t *seq,
                         size_t *len, size_t *feed) {
    const sp_ppl_corpus *c = &run->corpora[u->file];
    if (run->job.protocol.score != SP_SCORE_ROLLING) {
        *len = *feed = u->ctx;
        return sp_ppl_window_input(&u->plan, c->ids, c->n, run->bos, k, seq);
    }
    const sp_ppl_doc *d = &c->docs[u->win_doc[k]];
    size_t from = sp_ppl_rolling_window(c->ids + d->off, d->n, u->ctx, run->bos, u->win_j[k],
                                        seq, len);
    *feed = *len - 1;
    return from;
}

/* Sums of one window in position order (the order sp_ppl_run_window adds them), and its
 * buckets by position. */
static void store_window(sp_ppl_run *run, size_t m, const sp_ppl_unit *u, size_t k,
                         const double *nll, size_t from, size_t len) {
    uint64_t g = (uint64_t)m * run->total_windows + u->first + k;
    sp_ppl_wsum *w = &run->sums[g];
    *w = (sp_ppl_wsum){0, 0.0, 0.0};
    sp_ppl_bucket *b = run->wbuckets ? run->wbuckets + g * run->n_buckets : NULL;
    for (size_t p = from; p < len; p++) {
        w->n++;
        w->s += nll[p];
        w->sq += nll[p] * nll[p];
        if (b) {
            b[p / run->job.by_position].tokens++;
            b[p / run->job.by_position].nll_sum += nll[p];
        }
    }
}

typedef struct unit_io {
    int32_t *seq;               /* [cap][max_ctx + 1] */
    double *nll;                /* [cap][max_ctx + 1] */
    size_t cap;                 /* windows seq and nll have room for */
    sp_ppl_progress *prog;
    sp_ppl_dump *dump;
} unit_io;

/* Windows of unit u scored per call: several where the session batches them on its device
 * (sp_ppl_window_batch), as many as io has room for (grown here); rolling windows differ in
 * length and go one at a time. */
static size_t unit_batch(sp_ppl_run *run, const sp_ppl_unit *u, unit_io *io) {
    if (run->job.protocol.score == SP_SCORE_ROLLING) return 1;
    size_t want = sp_ppl_window_batch(run->sess, u->ctx), row = run->max_ctx + 1;
    if (want > io->cap) {
        int32_t *seq = realloc(io->seq, want * row * sizeof *seq);
        if (seq) io->seq = seq;
        double *nll = seq ? realloc(io->nll, want * row * sizeof *nll) : NULL;
        if (nll) io->nll = nll;
        if (seq && nll) io->cap = want;
    }
    return want < io->cap ? want : io->cap;
}

/* The windows of unit u this process runs, through model m. */
static int run_unit(sp_ppl_run *run, size_t m, const sp_ppl_unit *u, unit_io *io,
                    sp_error *err) {
    const sp_ppl_model *model = &run->models[m];
    const char *name = sp_corpus_name(run->corpora[u->file].path);
    size_t first, end, len = 0, feed = 0, bad = 0, bad_j = 0, from = 0, nb;
    uint64_t n = 0;
    double s = 0.0;
    sp_ppl_my_windows(run, u, &first, &end);
    if (run->job.stats) sp_session_reset_stats(run->sess);
    size_t batch = unit_batch(run, u, io), row = run->max_ctx + 1;
    for (size_t k = first; k < end; k += nb) {
        nb = end - k < batch ? end - k : batch;
        /* a batch holds windows of one score_from (a stride's first window has its own) */
        for (size_t j = 0; j < nb; j++) {
            size_t f = window_seq(run, u, k + j, io->seq + j * row, &len, &feed);
            if (j && f != from) nb = j;
            else from = f;
        }
        /* equal windows of len tokens: the batch's rows are len apart */
        for (size_t j = 1; j < nb; j++)
            memmove(io->seq + j * len, io->seq + j * row, len * sizeof *io->seq);
        int rc = sp_ppl_score_windows(run->sess, model->vocab, nb, io->seq, len, feed, from,
                                      io->nll, &bad_j, &bad, err);
        if (bad) /* never a printed nan: the run stops, naming where */
            rc = sp_fail(err, SP_ERR_RUNTIME, "non-finite NLL in %s, ctx %zu, window %zu, "
                         "position %zu%s%s", name, u->ctx, k + bad_j, bad,
                         run->n_models > 1 ? ", model " : "",
                         run->n_models > 1 ? model->path : "");
        if (rc) return rc;
        for (size_t j = 0; j < nb; j++) {
            const int32_t *seq = io->seq + j * len;
            const double *nll = io->nll + j * len;
            if (io->dump->open &&
                (rc = sp_ppl_dump_window(io->dump, run, m, u, k + j, seq, len, from, nll, err)))
                return rc;
            store_window(run, m, u, k + j, nll, from, len);
            const sp_ppl_wsum *w = &run->sums[(uint64_t)m * run->total_windows + u->first + k + j];
            n += w->n;
            s += w->s;
            io->prog->done += feed;
            sp_ppl_progress_show(io->prog, run, m, u, k + j, n, s);
        }
    }
    return SP_OK;
}

/* Every unit through model m, on a session of its own. */
static int run_model(sp_ppl_run *run, size_t m, unit_io *io, sp_error *err) {
    sp_model *model = run->models[m].model;
    int rc = sp_session_create(model, run->max_ctx, run->job.threads, &run->sess, err);
    if (rc) return rc;
    if (run->job.stats) sp_session_enable_stats(run->sess, 1);
    size_t nf = run->job.n_corpora;
    for (size_t i = 0; i < run->n_ctx * nf && !rc; i++) {
        rc = run_unit(run, m, &run->units[i], io, err);
        /* rows: per model, per ctx: files then the average (filled by the reduction) */
        size_t c = i / nf, f = i % nf;
        sp_ppl_row *row = &run->rows[(m * run->n_ctx + c) * (nf + 1) + f];
        if (!rc && run->job.stats) rc = collect_stats(run, model, row, err);
    }
    sp_session_free(run->sess);
    run->sess = NULL;
    return rc;
}

int sp_ppl_execute(sp_ppl_run *run, sp_error *err) {
    int rc = allocate_results(run, err);
    if (rc) return rc;
    int32_t *seq = malloc((run->max_ctx + 1) * sizeof *seq);
    double *nll = malloc((run->max_ctx + 1) * sizeof *nll);
    sp_ppl_progress prog = {run->job.progress, sp_ppl_now(), 0,
                            run->window_tokens * run->n_models};
    sp_ppl_dump dump = {0};
    unit_io io = {seq, nll, 1, &prog, &dump};
    if (!seq || !nll) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    if (!rc && run->job.dump_nll) rc = sp_ppl_dump_open(&dump, run->job.dump_nll, err);
    for (size_t m = 0; m < run->n_models && !rc; m++) rc = run_model(run, m, &io, err);
    sp_ppl_progress_end(&prog);
    if (!rc) rc = sp_ppl_reduce_all(run, err);
    if (!rc && dump.open) rc = sp_ppl_dump_commit(&dump, err);
    sp_ppl_dump_abort(&dump);
    free(io.seq);
    free(io.nll);
    return rc;
}

void sp_ppl_report(const sp_ppl_run *run, FILE *out, int json) {
    sp_ppl_report_info info = {
        .model = run->job.model_path, .protocol = &run->job.protocol, .ctx = run->ctx,
        .n_ctx = run->n_ctx, .models = run->model_paths, .sha256 = run->model_sha,
        .n_models = run->n_models, .version = run->job.version,
        .max_tokens = run->job.max_tokens, .by_position = run->job.by_position,
    };
    if (json) sp_ppl_print_json(out, &info, run->rows, run->n_rows);
    else sp_ppl_print_table(out, &info, run->rows, run->n_rows);
}
