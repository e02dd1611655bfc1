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

/* One sample at a time (task_eval.c): a greedy sampler, the prompt and the generated ids on a
 * session of at least `cap` tokens, which the split run (dist_task.c) shares with the plain one. */
typedef struct task_runner {
    sp_session *s;
    int32_t vocab;
    const sp_task_layout *layout;
    sp_sampler greedy;
    int32_t *prompt, *ids;
    size_t cap, generated, n_ids; /* ids[0..n_ids): what was generated, at most cap */
} task_runner;

int task_runner_init(task_runner *r, sp_session *s, int32_t vocab, const sp_task_layout *layout,
                     size_t cap, sp_error *err);
void task_runner_free(task_runner *r);
/* Sample i of set: reset, feed `bos src sep`, generate; *ok when the ids equal the target. An
 * error names the src file and line. */
int task_sample(task_runner *r, const sp_task_set *set, size_t i, int *ok, sp_error *err);
/* One --predictions line: "<0|1> <ids>". */
void task_write_prediction(FILE *pred, int ok, const int32_t *ids, size_t n);
/* The tokens a sample's sequence holds at most: what it costs, for the split. */
size_t task_sample_cost(const sp_task_layout *layout, size_t src_len);

#endif
