/* dist_run.c — a whole perplexity job as one process, one rank of an MPI job or one shard
 * (sp_ppl_run_split): choose this process's part, prepare, agree that every rank is ready,
 * run the part's windows, gather them on rank 0 (inside the run's final reduction), and only
 * there print the report or write the part file. Every rank makes the same collective calls
 * in the same order, so none waits for a call another rank skipped. */
#include <string.h>

#include "dist.h"

/* What a split run cannot do: one output per process, or per-head statistics of a part. */
static int check_split(const sp_ppl_job *job, const sp_dist *d, const sp_ppl_split *split,
                       sp_error *err) {
    if (d->mpi && split->shards)
        return sp_fail(err, SP_ERR_INPUT, "--shard cannot be combined with mpirun (each rank "
                       "is already a part)");
    if (!d->mpi && !split->shards) return SP_OK;
    /* the part file's path is checked before the run, not after hours of it */
    if (split->shards && sp_output_check(split->part_path, 0, err)) return SP_ERR_INPUT;
    if ((d->size > 1 || split->shards > 1) && job->stats)
        return sp_fail(err, SP_ERR_INPUT, "--stats is not available when the run is split "
                       "over ranks or shards");
    if ((d->size > 1 || split->shards > 1) && job->dump_nll)
        return sp_fail(err, SP_ERR_INPUT, "--dump-nll is not available when the run is split "
                       "over ranks or shards");
    for (size_t i = 0; i < job->n_corpora; i++)
        if (!strcmp(job->corpora[i], "-"))
            return sp_fail(err, SP_ERR_INPUT, "a corpus from standard input cannot be split "
                           "over ranks or shards");
    return SP_OK;
}

int sp_ppl_run_split(const sp_ppl_job *job, const sp_ppl_split *split, FILE *out, int json,
                     int *quiet, sp_error *err) {
    sp_dist d;
    *quiet = 0;
    int rc = sp_dist_init(&d, err);
    if (rc) return rc;
    rc = check_split(job, &d, split, err);
    if (split->shards) sp_ppl_choose_part(split->shard, split->shards);
    else sp_ppl_choose_part((uint64_t)d.rank, (uint64_t)d.size);
    sp_ppl_job mine = *job;
    if (d.rank != 0) mine.progress = 0; /* one progress line: rank 0's */
    sp_ppl_run *run = NULL;
    if (!rc) rc = sp_ppl_prepare(&mine, &run, err);
    rc = sp_dist_agree(&d, rc, err);
    /* After a failed agreement no rank makes another collective call (a rank whose command
     * died stands in for it in one agreement only: docs/SCALING.md). */
    int failed_together = rc != 0;
    if (!rc) rc = sp_ppl_execute(run, err); /* its reduction gathers the ranks' sums */
    if (!failed_together && !sp_ppl_gather_agreed()) rc = sp_dist_agree(&d, rc, err);
    if (!rc && d.rank == 0) {
        if (split->shards) rc = sp_ppl_write_part(run, split->part_path, split->version, err);
        else sp_ppl_report(run, out, json);
    }
    sp_ppl_run_free(run);
    *quiet = d.rank != 0;
    sp_dist_finish(&d);
    return rc;
}
