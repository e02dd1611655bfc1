/* dist_task.c — `eval-task` over MPI ranks or as one --shard part (sparsa_dist.h,
 * sp_task_run_split). The samples of every set, in order, are the items: each part runs a
 * contiguous range of about equal cost and keeps one record per sample (correct or not, its
 * seconds, the generated ids); rank 0 (or merge) adds the records set by set in sample order,
 * exactly as one process counts them, so every accuracy, interval and prediction line has the
 * bits of a single run. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dist_rec.h"
#include "dist_task.h"
#include "task_progress.h"

size_t sp_task_total_samples(const sp_task_job *job) {
    size_t n = 0;
    for (size_t s = 0; s < job->n_sets; s++) n += job->sets[s].samples;
    return n;
}

sp_dist_range sp_task_part_range(const sp_task_job *job, uint64_t part, uint64_t parts) {
    size_t n = sp_task_total_samples(job), g = 0;
    uint64_t *cost = malloc((n ? n : 1) * sizeof *cost);
    if (!cost) {
        sp_dist_range whole = {part == 0 ? 0 : n, n}; /* part 0 runs all: slower, still right */
        return whole;
    }
    for (size_t s = 0; s < job->n_sets; s++)
        for (size_t i = 0; i < job->sets[s].samples; i++)
            cost[g++] = task_sample_cost(job->layout, job->sets[s].src_len[i]);
    sp_dist_range r = sp_dist_item_range(cost, n, parts, part);
    free(cost);
    return r;
}

/* Rank 0's line: its own share done, which is about the job's share done (equal costs). */
static void show_progress(int on, size_t done, size_t mine) {
    if (!on) return;
    if (done < mine)
        fprintf(stderr, "\r\033[Keval-task %3.0f%% of the job (rank 0: sample %zu/%zu of its "
                "part)", 100.0 * (double)done / (double)mine, done + 1, mine);
    else fputs("\r\033[K", stderr);
}

/* The part's samples, one record each: [u8 correct][f64 seconds][u64 n][n × i32 ids]. */
static int run_part(const sp_task_job *job, sp_dist_range r, int progress, sp_strbuf *recs,
                    sp_error *err) {
    sp_session *s = NULL;
    int rc = sp_session_create(job->m, job->capacity, job->threads, &s, err);
    task_runner run;
    int32_t vocab = sp_model_vocab_size(job->m);
    if (!rc) rc = task_runner_init(&run, s, vocab, job->layout, job->capacity, err);
    size_t g = 0, mine = (size_t)(r.end - r.first);
    for (size_t set = 0; set < job->n_sets && !rc; set++)
        for (size_t i = 0; i < job->sets[set].samples && !rc; i++, g++) {
            if (g < r.first || g >= r.end) continue;
            show_progress(progress, (size_t)(g - r.first), mine);
            double t0 = omp_get_wtime();
            int ok = 0;
            rc = task_sample(&run, &job->sets[set], i, &ok, err);
            if (rc) break;
            rec_u8(recs, (unsigned char)ok);
            rec_f64(recs, omp_get_wtime() - t0);
            rec_u64(recs, run.n_ids);
            rec_put(recs, run.ids, run.n_ids * sizeof *run.ids);
        }
    show_progress(progress, mine, mine);
    if (!rc && recs->oom) rc = sp_fail(err, SP_ERR_RUNTIME, "eval-task: out of memory");
    if (s) task_runner_free(&run);
    sp_session_free(s);
    return rc;
}

int sp_task_add_records(const sp_task_job *job, const char *recs, size_t len, FILE *pred,
                        sp_task_row_cb row, void *user, sp_error *err) {
    rec_reader rd = {recs, recs + len, 0};
    int32_t *ids = malloc((job->capacity ? job->capacity : 1) * sizeof *ids);
    if (!ids) return sp_fail(err, SP_ERR_RUNTIME, "eval-task: out of memory");
    for (size_t set = 0; set < job->n_sets && !rd.short_read; set++) {
        sp_task_result res = {0};
        double len_sum = 0;
        for (size_t i = 0; i < job->sets[set].samples && !rd.short_read; i++) {
            int ok = rec_get_u8(&rd) != 0;
            res.seconds += rec_get_f64(&rd);
            uint64_t n = rec_get_u64(&rd);
            if (n > job->capacity) rd.short_read = 1;
            else rec_get(&rd, ids, (size_t)n * sizeof *ids);
            res.correct += (size_t)ok;
            len_sum += (double)job->sets[set].src_len[i];
            if (pred && !rd.short_read) task_write_prediction(pred, ok, ids, (size_t)n);
            res.samples++;
        }
        res.mean_src_len = res.samples ? len_sum / (double)res.samples : 0;
        if (!rd.short_read && row) row(user, set, &res);
    }
    free(ids);
    if (rd.short_read || rd.p != rd.end)
        return sp_fail(err, SP_ERR_INPUT, "eval-task: the parts' records do not match the "
                       "samples of the sets");
    return SP_OK;
}

int sp_task_run_split(const sp_task_job *job, const sp_ppl_split *split, FILE *pred,
                      sp_task_row_cb row, void *user, sp_error *err) {
    const sp_dist *d = sp_dist_world();
    uint64_t part, parts;
    sp_dist_item_part(split, &part, &parts);
    if (parts <= 1 && !split->shards) /* one process: the plain run, rows as sets finish */
        return sp_task_run(job->m, job->layout, job->sets, job->n_sets, job->capacity,
                           job->threads, job->progress, pred, row, user, err);
    sp_dist_range r = sp_task_part_range(job, part, parts);
    sp_strbuf recs = {0};
    int rc = run_part(job, r, job->progress && d->rank == 0, &recs, err);
    if (split->shards) {
        if (!rc) rc = sp_task_write_part(job, split, part, parts, r, recs.s, recs.len, err);
        sp_sb_free(&recs);
        return rc;
    }
    char *all = NULL;
    size_t all_len = 0;
    rc = sp_dist_collect(d, rc, recs.s, recs.len, &all, &all_len, err);
    sp_sb_free(&recs);
    if (!rc && d->rank == 0) rc = sp_task_add_records(job, all, all_len, pred, row, user, err);
    free(all);
    return rc;
}
