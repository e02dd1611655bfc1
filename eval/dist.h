/* dist.h — private to eval/: the distributed layer's side of a perplexity run (ppl_job.h).
 * ppl_reduce.c's two seams call here: which windows this process runs (sp_ppl_part_span) and,
 * before the final reduction, the gathering of every window's sums on rank 0
 * (sp_ppl_gather). dist_ppl.c owns these; dist_part.c writes a part file. */
#ifndef SPARSA_EVAL_DIST_H
#define SPARSA_EVAL_DIST_H

#include "sparsa_dist.h"

struct sp_ppl_run;
struct sp_ppl_unit;

/* The part of the job this process runs: part of parts (0 of 1: everything). Set before the
 * run executes (sp_ppl_run_split: the MPI rank, or --shard K/N). */
void sp_ppl_choose_part(uint64_t part, uint64_t parts);
void sp_ppl_chosen_part(uint64_t *part, uint64_t *parts);
/* The windows [*first, *end) of unit u that the chosen part runs. */
void sp_ppl_part_span(const struct sp_ppl_run *run, const struct sp_ppl_unit *u, size_t *first,
                      size_t *end);
/* The range of global window indices of part `part` of `parts` of this run. */
sp_dist_range sp_ppl_part_range(const struct sp_ppl_run *run, uint64_t part, uint64_t parts);
/* Collective over the MPI ranks (a no-op otherwise): first agrees that every rank ran its
 * windows (sp_dist_agree; a failing rank's message reaches rank 0), then gathers every
 * model's window sums (and --by-position buckets) on rank 0. */
int sp_ppl_gather(struct sp_ppl_run *run, sp_error *err);
/* Whether sp_ppl_gather has agreed on the run's outcome already (so the ranks that failed
 * earlier, which never reached it, agree once from sp_ppl_run_split instead). */
int sp_ppl_gather_agreed(void);
/* The executed part as a part file (dist_part.c; docs/SCALING.md, "Part files"). */
int sp_ppl_write_part(const struct sp_ppl_run *run, const char *path, const char *version,
                      sp_error *err);

#endif
