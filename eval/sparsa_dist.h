/* sparsa_dist.h — eval/'s public interface for evaluation spread over processes: the ranks of
 * an MPI job (the MPI library is loaded at run time, only under mpirun) and the deterministic
 * parts of `perplexity --shard K/N` and `eval-task --shard K/N`, joined later by `sparsa
 * merge`. docs/SCALING.md explains the design and how to run it on a cluster.
 *
 * Bit-identical results whatever the split: every item (a perplexity or kld window, an
 * eval-task sample, an mc question) is computed by exactly one process, which keeps what it
 * contributes before any sum is formed; rank 0 (or merge) gathers these and adds them in item
 * order with the code a single process runs. */
#ifndef SPARSA_DIST_H
#define SPARSA_DIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sparsa_eval.h"
#include "sparsa_workbench.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- which windows a part runs ------------------------------------------------------------ */

/* Global window indices [first, end) of one part. */
typedef struct sp_dist_range {
    uint64_t first, end;
} sp_dist_range;

/* Part `part` of `parts` (0-based) of units with windows[u] windows costing cost[u] each
 * (tokens per window): contiguous ranges of about equal cost, cut at unit boundaries (whole
 * files) when there are many units none of which is a large share, else inside units
 * (windows of a file). Deterministic in its arguments; the parts tile [0, Σ windows). */
sp_dist_range sp_dist_split(const uint64_t *windows, const uint64_t *cost, size_t n_units,
                            uint64_t parts, uint64_t part);

/* ---- MPI ranks --------------------------------------------------------------------------- */

typedef struct sp_dist {
    int mpi;          /* 1: this process is a rank of an MPI job */
    int rank, size;   /* 0 and 1 without MPI */
} sp_dist;

/* 1 when the environment says the process was started by mpirun/srun (OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK or PMI_SIZE set). */
int sp_dist_launched(void);
/* Without a launcher: rank 0 of 1, nothing loaded. Under one: loads Open MPI's libmpi
 * (libmpi.so.40, then libmpi.so) with dlopen and resolves the few functions and handles used
 * (a library that cannot be loaded is SP_ERR_INPUT naming what is missing), then forks: the
 * process mpirun started stays to talk to MPI (MPI_Init ... MPI_Finalize) and ends with the
 * command's status; the call returns in the child, which runs the command. So it must come
 * before any thread or OpenMP team is started and before any temporary is registered. A
 * second call returns the same world. */
int sp_dist_init(sp_dist *d, sp_error *err);
/* Collective: every rank passes its status; all get the first non-zero one in rank order
 * (0 when all succeeded). On rank 0 err then holds that rank's message, "rank R: " first when
 * R is not 0 (rank 0's own message is left as it is). Without MPI: returns rc. */
int sp_dist_agree(const sp_dist *d, int rc, sp_error *err);
/* sp_dist_agree where, on success, sp_dist_gather_bytes calls follow (a rank whose command
 * died then knows it cannot stand in for it; docs/SCALING.md, "A rank that dies"). */
int sp_dist_agree_gather(const sp_dist *d, int rc, sp_error *err);
/* Collective: every rank's bytes [at[rank], at[rank + 1]) of buf into buf on rank 0 (at has
 * size + 1 offsets, ascending). Runs as several gathers when a part passes 1 GiB. */
int sp_dist_gather_bytes(const sp_dist *d, void *buf, const uint64_t *at, sp_error *err);
/* MPI_Finalize once (no-op without MPI). */
void sp_dist_finish(sp_dist *d);
/* The process's place as sp_dist_init found it (rank 0 of 1 before). */
const sp_dist *sp_dist_world(void);

/* ---- perplexity over ranks and parts ------------------------------------------------------ */

/* How a perplexity job is split: --shard K/N writes part K's sums to part_path. */
typedef struct sp_ppl_split {
    uint64_t shard, shards;   /* shards 0: not a shard */
    const char *part_path;
    const char *version;      /* sparsa's version, recorded in the part */
} sp_ppl_split;

/* A whole perplexity job: run plainly, as every rank of an MPI job (the launcher is detected
 * and the MPI library loaded here) or as one shard. Only rank 0 prints the report to out (or
 * writes the part); on the other ranks *quiet is set: they print no error either and should
 * exit with 0, so that mpirun does not stop rank 0 before it reports the first failure of any
 * rank (with the job's exit status). */
int sp_ppl_run_split(const sp_ppl_job *job, const sp_ppl_split *split, FILE *out, int json,
                     int *quiet, sp_error *err);

/* ---- the items of eval-task, kld and mc ------------------------------------------------- */

/* Items [first, end) of part `part` of `parts`: n items in order costing cost[i] each (the
 * tokens it feeds), contiguous ranges of about equal cost (sp_dist_split, one window a unit). */
sp_dist_range sp_dist_item_range(const uint64_t *cost, size_t n, uint64_t parts, uint64_t part);
/* This process's part: split's shard when it is one (split may be NULL), else the MPI rank of
 * the world (0 of 1 without MPI). */
void sp_dist_item_part(const sp_ppl_split *split, uint64_t *part, uint64_t *parts);
/* Collective (one process alone: the same without messages): agrees on rc (sp_dist_agree;
 * a failing rank's message reaches rank 0), then gathers every rank's len bytes at mine in
 * rank order on rank 0, into *all (malloc'd, *all_len bytes; NULL on the other ranks). */
int sp_dist_collect(const sp_dist *d, int rc, const void *mine, size_t len, char **all,
                    size_t *all_len, sp_error *err);

/* eval-task (sparsa_eval.h, "synthetic tasks") as one job: the sets already read on every
 * process (sp_task_sets_read), and what identifies the run in a part file. */
typedef struct sp_task_job {
    sp_model *m;
    const char *model_path;
    const sp_task_layout *layout;
    const sp_task_set *sets;         /* [n_sets]; each names its src file */
    const char *const *trg_paths;    /* [n_sets] */
    size_t n_sets, capacity, limit;  /* capacity: as sp_task_sets_read gives it; limit 0: all */
    int threads, progress;
    const char *version;             /* sparsa's version, recorded in a part */
} sp_task_job;

/* Runs the job's samples: all of them in one process (sp_task_run: rows as each set
 * finishes), this rank's share under MPI (rank 0 then adds every rank's records in sample
 * order and calls row for each set, and writes pred; the other ranks pass NULL and call
 * nothing), or part K of --shard K/N, written to split->part_path. Collective under MPI:
 * a failure of any rank comes back on rank 0 as "rank R: ...". */
int sp_task_run_split(const sp_task_job *job, const sp_ppl_split *split, FILE *pred,
                      sp_task_row_cb row, void *user, sp_error *err);

/* The report of eval-task parts joined by merge: what a single run's report prints. */
typedef struct sp_task_merged {
    const char *model_path;
    char model_sha256[65];
    const sp_task_layout *layout;
    size_t limit, n_sets;
    const char **src, **trg;         /* [n_sets] */
    sp_task_result *rows;            /* [n_sets], with the bits of one run */
    void *state;                     /* the parts the above point into */
} sp_task_merged;

/* Reads eval-task part files, checks that they belong together (version, model, src/trg
 * files, settings, number of parts) and cover every part exactly once, and adds their records
 * as one run does. SP_ERR_INPUT naming the problem otherwise. */
int sp_task_merge(const char *const *paths, size_t n, sp_task_merged *out, sp_error *err);
void sp_task_merged_free(sp_task_merged *m);
/* mc parts joined by merge: the job and result sp_mc_print prints for one run. */
typedef struct sp_mc_merged {
    sp_mc_job job;
    sp_mc_result res;
    void *state;                     /* the parts the job's strings point into */
} sp_mc_merged;

/* Reads mc part files, checks that they belong together (version, model, task file, settings,
 * number of parts) and cover every part exactly once, and finishes every question as one run
 * does. SP_ERR_INPUT naming the problem otherwise. */
int sp_mc_merge(const char *const *paths, size_t n, sp_mc_merged *out, sp_error *err);
void sp_mc_merged_free(sp_mc_merged *m);

/* The command that wrote the part file at path ("perplexity", "eval-task" or "mc");
 * "perplexity" also when path cannot be read as a part (its merge then names the problem). */
const char *sp_part_file_command(const char *path);

/* Reads part files (docs/SCALING.md, "Part files"), checks that they belong together (same
 * version, models, corpora, settings and number of parts) and cover every part exactly once,
 * and prints the report a single run prints (table, or JSON with json). SP_ERR_INPUT naming
 * the problem otherwise. */
int sp_ppl_merge(const char *const *paths, size_t n, FILE *out, int json, sp_error *err);

#ifdef __cplusplus
}
#endif
#endif
