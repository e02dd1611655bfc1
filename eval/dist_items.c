/* dist_items.c — the items of a split evaluation other than perplexity's windows (eval-task
 * samples, kld windows, mc questions; sparsa_dist.h): which items a part runs, and the
 * collection of every part's per-item records on rank 0. A record holds what one item
 * contributes before any sum is formed, so rank 0 adds the records in item order and gets
 * the bits of one process (docs/SCALING.md). */
#include <stdlib.h>
#include <string.h>

#include "sparsa_dist.h"

sp_dist_range sp_dist_item_range(const uint64_t *cost, size_t n, uint64_t parts, uint64_t part) {
    sp_dist_range all = {0, n};
    if (parts <= 1) return all;
    uint64_t *ones = malloc((n ? n : 1) * sizeof *ones);
    if (!ones) { /* part 0 then runs every item: slower, still right */
        all.first = part == 0 ? 0 : n;
        return all;
    }
    for (size_t i = 0; i < n; i++) ones[i] = 1;
    sp_dist_range r = sp_dist_split(ones, cost, n, parts, part);
    free(ones);
    return r;
}

void sp_dist_item_part(const sp_ppl_split *split, uint64_t *part, uint64_t *parts) {
    const sp_dist *d = sp_dist_world();
    *part = split && split->shards ? split->shard : (uint64_t)d->rank;
    *parts = split && split->shards ? split->shards : (uint64_t)d->size;
}

int sp_dist_collect(const sp_dist *d, int rc, const void *mine, size_t len, char **all,
                    size_t *all_len, sp_error *err) {
    *all = NULL;
    *all_len = 0;
    rc = sp_dist_agree_gather(d, rc, err);
    if (rc) return rc;
    int n = d->mpi ? d->size : 1, me = d->mpi ? d->rank : 0;
    /* the lengths first (8 bytes per rank), then the records at their places */
    uint64_t *lens = calloc((size_t)n, sizeof *lens), *at = calloc((size_t)n + 1, sizeof *at);
    if (!lens || !at) abort(); /* the other ranks wait in the gather: no way back from here */
    lens[me] = len;
    for (int r = 0; r <= n; r++) at[r] = (uint64_t)r * sizeof *lens;
    rc = sp_dist_gather_bytes(d, lens, at, err);
    at[0] = 0;
    for (int r = 0; r < n; r++) at[r + 1] = at[r] + (me == 0 || r == me ? lens[r] : 0);
    char *buf = malloc(at[n] ? at[n] : 1);
    if (!buf) abort();
    if (len) memcpy(buf + at[me], mine, len);
    if (!rc) rc = sp_dist_gather_bytes(d, buf, at, err);
    free(lens);
    if (rc || me != 0) {
        free(buf);
        buf = NULL;
    } else *all_len = at[n];
    free(at);
    *all = buf;
    return rc;
}
