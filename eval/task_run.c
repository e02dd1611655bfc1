/* task_run.c — a whole synthetic-task evaluation (sparsa_eval.h, "synthetic tasks"): every
 * src/trg pair read and checked before the first sample runs, then each set on one session;
 * and the Wilson interval its accuracies are reported with. */
#include <math.h>

#include "task_progress.h"

int sp_task_sets_read(sp_model *m, const sp_task_layout *layout, const char *const *src,
                      const char *const *trg, size_t n, size_t limit, sp_task_set *sets,
                      size_t *capacity, sp_error *err) {
    int32_t vocab = sp_model_vocab_size(m);
    size_t read = 0;
    int rc = SP_OK;
    *capacity = 0;
    for (; read < n && !rc; read++) {
        rc = sp_task_set_read(src[read], trg[read], vocab, limit, &sets[read], err);
        if (rc) break;
        size_t c = sp_task_set_capacity(&sets[read], layout);
        if (c > *capacity) *capacity = c;
    }
    uint64_t ctx = sp_model_context_length(m);
    if (!rc && ctx && *capacity > ctx)
        rc = sp_fail(err, SP_ERR_INPUT, "samples need %zu positions but the model supports %llu",
                     *capacity, (unsigned long long)ctx);
    if (rc)
        for (size_t i = 0; i < read; i++) sp_task_set_free(&sets[i]);
    return rc;
}

int sp_task_run(sp_model *m, const sp_task_layout *layout, const sp_task_set *sets, size_t n,
                size_t capacity, int threads, int progress, FILE *pred, sp_task_row_cb row,
                void *user, sp_error *err) {
    sp_session *s = NULL;
    int rc = sp_session_create(m, capacity, threads, &s, err);
    for (size_t i = 0; !rc && i < n; i++) {
        sp_task_result r;
        task_progress prog = {progress, i, n};
        rc = task_eval_progress(s, sp_model_vocab_size(m), layout, &sets[i], pred, &prog, &r,
                                err);
        if (!rc && row) row(user, i, &r);
    }
    sp_session_free(s);
    return rc;
}

/* Wilson (1927): the p whose normal-approximation score test at z does not reject k/n. */
void sp_wilson_interval(size_t k, size_t n, double *lo, double *hi) {
    if (n == 0 || k > n) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    const double z = 1.959963984540054, z2 = z * z, nn = (double)n, p = (double)k / nn;
    double denom = 1.0 + z2 / nn;
    double centre = (p + z2 / (2.0 * nn)) / denom;
    double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
    /* exactly 0 at k = 0 and 1 at k = n, where rounding could leave 1e-16 either side */
    *lo = k == 0 || centre - half < 0.0 ? 0.0 : centre - half;
    *hi = k == n || centre + half > 1.0 ? 1.0 : centre + half;
}
