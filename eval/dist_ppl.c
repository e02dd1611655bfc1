/* dist_ppl.c — a perplexity run spread over processes (dist.h): the part this process runs,
 * the windows of each unit inside it, and the gathering of every window's sums on rank 0
 * before the run's final reduction. The run keeps one array of window sums in run order
 * (ppl_job.h), so a part only fills its slice and the reduction does not change. */
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "ppl_job.h"

static struct {
    uint64_t part, parts;
    int agreed;
} chosen = {0, 1, 0};

/* The chosen part's range, computed once per run (a run asks once per unit and model);
 * forgotten when a part is chosen, i.e. before each split run. */
static struct {
    const sp_ppl_run *run;
    sp_dist_range r;
} memo;

void sp_ppl_choose_part(uint64_t part, uint64_t parts) {
    memo.run = NULL;
    chosen.part = part;
    chosen.parts = parts ? parts : 1;
}

void sp_ppl_chosen_part(uint64_t *part, uint64_t *parts) {
    *part = chosen.part;
    *parts = chosen.parts;
}

int sp_ppl_gather_agreed(void) { return chosen.agreed; }

/* Units in run order with their windows and the cost of one window (its tokens). */
sp_dist_range sp_ppl_part_range(const sp_ppl_run *run, uint64_t part, uint64_t parts) {
    size_t n = run->n_ctx * run->job.n_corpora;
    sp_dist_range whole = {0, run->total_windows};
    uint64_t *windows = calloc(n ? n : 1, sizeof *windows), *cost = calloc(n ? n : 1, sizeof *cost);
    if (!windows || !cost) { /* every part then runs every window: slower, still right */
        free(windows);
        free(cost);
        return whole;
    }
    for (size_t u = 0; u < n; u++) {
        windows[u] = run->units[u].windows;
        cost[u] = run->units[u].ctx;
    }
    sp_dist_range r = sp_dist_split(windows, cost, n, parts, part);
    free(windows);
    free(cost);
    return r;
}

/* The chosen part's range (memo above). */
static sp_dist_range chosen_range(const sp_ppl_run *run) {
    if (memo.run != run) {
        memo.r = sp_ppl_part_range(run, chosen.part, chosen.parts);
        memo.run = run;
    }
    return memo.r;
}

void sp_ppl_part_span(const sp_ppl_run *run, const sp_ppl_unit *u, size_t *first, size_t *end) {
    sp_dist_range r = {0, run->total_windows};
    if (chosen.parts > 1) r = chosen_range(run);
    uint64_t a = u->first, b = a + u->windows;
    uint64_t lo = a > r.first ? a : r.first, hi = b < r.end ? b : r.end;
    *first = lo < hi ? (size_t)(lo - a) : 0;
    *end = lo < hi ? (size_t)(hi - a) : 0;
}

/* One array of [n_models][total_windows] items of `item` bytes, gathered model by model. */
static int gather_array(const sp_dist *d, const sp_ppl_run *run, void *base, size_t item,
                        const sp_dist_range *ranges, sp_error *err) {
    uint64_t *at = calloc((size_t)d->size + 1, sizeof *at);
    if (!at) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    int rc = SP_OK;
    for (size_t m = 0; m < run->n_models && !rc; m++) {
        char *slice = (char *)base + m * run->total_windows * item;
        for (int r = 0; r < d->size; r++) at[r] = ranges[r].first * item;
        at[d->size] = run->total_windows * item;
        rc = sp_dist_gather_bytes(d, slice, at, err);
    }
    free(at);
    return rc;
}

int sp_ppl_gather(sp_ppl_run *run, sp_error *err) {
    const sp_dist *d = sp_dist_world();
    if (!d->mpi || d->size == 1) return SP_OK;
    chosen.agreed = 1;
    int rc = sp_dist_agree_gather(d, SP_OK, err);
    if (rc) return rc;
    sp_dist_range *ranges = calloc((size_t)d->size, sizeof *ranges);
    if (!ranges) abort(); /* the other ranks wait in the gather: no way back from here */
    for (int r = 0; r < d->size; r++)
        ranges[r] = sp_ppl_part_range(run, (uint64_t)r, (uint64_t)d->size);
    rc = gather_array(d, run, run->sums, sizeof *run->sums, ranges, err);
    if (!rc && run->n_buckets)
        rc = gather_array(d, run, run->wbuckets, run->n_buckets * sizeof *run->wbuckets, ranges,
                          err);
    free(ranges);
    return rc;
}
