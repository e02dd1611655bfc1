/* dist_task.h — private to eval/: the pieces of a split eval-task run that its part files and
 * merge share (dist_task.c runs and adds records; dist_task_part.c writes and reads parts). */
#ifndef SPARSA_EVAL_DIST_TASK_H
#define SPARSA_EVAL_DIST_TASK_H

#include "sparsa_dist.h"

size_t sp_task_total_samples(const sp_task_job *job);
/* The global samples [first, end) (sets in order, samples in order) of part of parts. */
sp_dist_range sp_task_part_range(const sp_task_job *job, uint64_t part, uint64_t parts);
/* Every sample's record, in order, added set by set as one process counts them: row(user, i,
 * result) per set, a --predictions line per sample into pred (may be NULL). SP_ERR_INPUT when
 * the records do not match the sets' samples. */
int sp_task_add_records(const sp_task_job *job, const char *recs, size_t len, FILE *pred,
                        sp_task_row_cb row, void *user, sp_error *err);
/* Part `part` of `parts` (global samples r) with its records, as a part file. */
int sp_task_write_part(const sp_task_job *job, const sp_ppl_split *split, uint64_t part,
                       uint64_t parts, sp_dist_range r, const char *recs, size_t len,
                       sp_error *err);

#endif
