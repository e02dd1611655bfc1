/* mc_split.h — private to eval/: the pieces of `mc` that a split run shares with its part
 * files and merge (mc_run.c scores and finishes questions; dist_mc_part.c measures questions
 * and writes a part; dist_mc_merge.c joins parts). A record is each choice's log-likelihood, in question order. */
#ifndef SPARSA_EVAL_MC_SPLIT_H
#define SPARSA_EVAL_MC_SPLIT_H

#include "sparsa_dist.h"
#include "sparsa_workbench.h"

/* What question i costs to score: 1 + the bytes of its contexts and continuations. */
uint64_t mc_question_cost(const sp_mc_item *it);
/* The records of questions 0..n-1 finished in order as one run finishes them (hits and
 * job->predictions). SP_ERR_INPUT when the records do not match the questions. */
int mc_add_records(const sp_mc_job *job, const sp_mc_set *set, size_t n, const char *recs,
                   size_t len, unsigned char *hit, unsigned char *hit_norm, sp_error *err);
/* Part `part` of `parts` (questions r) with its records, as a part file at job->part_path. */
int mc_write_part(const sp_mc_job *job, const sp_mc_set *set, size_t n, const char *sha,
                  sp_dist_range r, const char *recs, size_t len, sp_error *err);

#endif
