/* ppl_reduce.c — the two seams a run spread over processes needs, kept apart on purpose:
 * which windows this process runs (sp_ppl_my_windows), and the final reduction
 * (sp_ppl_reduce_all), which adds every window's stored sums in double in window order after
 * all windows ran — the same additions, in the same order, as one process running them all,
 * so gathering the sums of windows run elsewhere gives the same bits. */
#include <math.h>
#include <string.h>

#include "dist.h"
#include "ppl_job.h"

/* Every window in one process; the chosen part's when the job is split over MPI ranks or
 * --shard parts (dist.h), whose sums sp_ppl_gather brings to rank 0 before the reduction. */
void sp_ppl_my_windows(const sp_ppl_run *run, const sp_ppl_unit *u, size_t *first, size_t *end) {
    sp_ppl_part_span(run, u, first, end); /* every window unless the job is split (dist.h) */
}

/* The non-empty buckets of a row, from sums over its windows (or files), in order. */
static size_t compact_buckets(sp_ppl_bucket *b, size_t n, size_t B, size_t positions) {
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!b[i].tokens) continue;
        sp_ppl_bucket x = b[i];
        x.start = i * B;
        x.end = x.start + B < positions ? x.start + B : positions;
        b[kept++] = x;
    }
    return kept;
}

static void add_buckets(sp_ppl_bucket *to, const sp_ppl_bucket *from, size_t n) {
    for (size_t i = 0; i < n; i++) {
        to[i].tokens += from[i].tokens;
        to[i].nll_sum += from[i].nll_sum;
    }
}

/* Unit (c, f) of model m into its row; returns the unit's accumulator. */
static void reduce_unit(sp_ppl_run *run, size_t m, size_t c, size_t f, sp_ppl_acc *acc,
                        sp_ppl_bucket *buckets) {
    size_t nf = run->job.n_corpora;
    const sp_ppl_unit *u = &run->units[c * nf + f];
    uint64_t g0 = (uint64_t)m * run->total_windows + u->first;
    sp_ppl_acc_init(acc);
    for (size_t k = 0; k < u->windows; k++) {
        const sp_ppl_wsum *w = &run->sums[g0 + k];
        sp_ppl_acc_window(acc, w->n, w->s, w->sq);
        if (buckets) add_buckets(buckets, run->wbuckets + (g0 + k) * run->n_buckets, run->n_buckets);
    }
}

static void finish_row(sp_ppl_run *run, sp_ppl_row *row, size_t m, size_t ctx,
                       const sp_ppl_acc *acc, sp_ppl_bucket *buckets) {
    row->model = m;
    row->ctx = ctx;
    sp_ppl_result_of(acc, &row->r);
    if (buckets) {
        size_t positions = run->job.protocol.score == SP_SCORE_ROLLING ? ctx + 1 : ctx;
        row->buckets = buckets;
        row->n_buckets = compact_buckets(buckets, run->n_buckets, run->job.by_position, positions);
    }
}

int sp_ppl_reduce_all(sp_ppl_run *run, sp_error *err) {
    size_t nf = run->job.n_corpora, nb = run->n_buckets;
    int rolling = run->job.protocol.score == SP_SCORE_ROLLING;
    int rc = sp_ppl_gather(run, err); /* under MPI: every rank's windows to rank 0 */
    if (rc) return rc;
    run->n_rows = 0;
    for (size_t m = 0; m < run->n_models; m++) {
        for (size_t c = 0; c < run->n_ctx; c++) {
            sp_ppl_acc all, acc;
            sp_ppl_acc_init(&all);
            sp_ppl_row *block = &run->rows[(m * run->n_ctx + c) * (nf + 1)];
            sp_ppl_bucket *bb = nb ? run->row_buckets + (m * run->n_ctx + c) * (nf + 1) * nb : NULL;
            if (bb) memset(bb, 0, (nf + 1) * nb * sizeof *bb);
            for (size_t f = 0; f < nf; f++) {
                reduce_unit(run, m, c, f, &acc, bb ? bb + f * nb : NULL);
                if (bb) add_buckets(bb + nf * nb, bb + f * nb, nb); /* before compaction */
                block[f].file = run->corpora[f].path;
                block[f].files = 1;
                block[f].words = rolling ? run->corpora[f].words : 0;
                block[f].bytes = rolling ? run->corpora[f].bytes : 0;
                block[nf].words += block[f].words;
                block[nf].bytes += block[f].bytes;
                finish_row(run, &block[f], m, run->ctx[c], &acc, bb ? bb + f * nb : NULL);
                sp_ppl_acc_merge(&all, &acc);
            }
            block[nf].file = NULL;
            block[nf].files = nf;
            finish_row(run, &block[nf], m, run->ctx[c], &all, bb ? bb + nf * nb : NULL);
        }
    }
    run->n_rows = run->n_models * run->n_ctx * (nf + 1);
    return SP_OK;
}
