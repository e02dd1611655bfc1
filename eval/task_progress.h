/* task_progress.h — private to eval/ (task_eval.c, task_run.c): a synthetic-task set evaluated
 * with an optional progress line on stderr, which sp_task_run draws for `eval-task`. */
#ifndef SPARSA_EVAL_TASK_PROGRESS_H
#define SPARSA_EVAL_TASK_PROGRESS_H

#include "sparsa_eval.h"

typedef struct task_progress {
    int on;              /* draw "\reval-task set S/N, sample J/M" after each sample */
    size_t set, n_sets;  /* this set's index and the number of sets */
} task_progress;

/* sp_task_eval with a progress line (prog NULL or off: none); the line is cleared at the end. */
int task_eval_progress(sp_session *s, int32_t vocab, const sp_task_layout *layout,
                       const sp_task_set *set, FILE *pred, const task_progress *prog,
                       sp_task_result *res, sp_error *err);

#endif
