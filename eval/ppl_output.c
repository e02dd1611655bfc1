/* ppl_output.c — what a perplexity run writes while it runs: the --dump-nll file (every
 * target's NLL, a tab-separated table described in docs/PROTOCOLS.md, written atomically)
 * and the progress line with the running PPL on stderr. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "ppl_job.h"

int sp_ppl_dump_open(sp_ppl_dump *d, const char *path, sp_error *err) {
    int rc = sp_out_open(&d->out, path, 0, err);
    if (rc) return rc;
    d->open = 1;
    fputs("# sparsa perplexity --dump-nll 1: one line per scored token; position is the "
          "token's in its window\nmodel\tfile\tctx\tdoc\twindow\tposition\ttoken\tnll\n",
          d->out.fp);
    return SP_OK;
}

/* Names from outside cannot break the table: control characters and backslashes escaped. */
static void dump_name(FILE *fp, const char *s) { sp_text_escape(fp, s, strlen(s)); }

int sp_ppl_dump_window(sp_ppl_dump *d, const sp_ppl_run *run, size_t m, const sp_ppl_unit *u,
                       size_t k, const int32_t *seq, size_t len, size_t from,
                       const double *nll, sp_error *err) {
    FILE *fp = d->out.fp;
    size_t doc = run->job.protocol.score == SP_SCORE_ROLLING ? u->win_doc[k] : 0;
    for (size_t p = from; p < len; p++) {
        dump_name(fp, run->models[m].path);
        fputc('\t', fp);
        dump_name(fp, sp_corpus_name(run->corpora[u->file].path));
        fprintf(fp, "\t%zu\t%zu\t%zu\t%zu\t%d\t%.17g\n", u->ctx, doc, k, p, (int)seq[p], nll[p]);
    }
    if (ferror(fp))
        return sp_fail(err, SP_ERR_RUNTIME, "cannot write %s", d->out.path ? d->out.path : "-");
    return SP_OK;
}

int sp_ppl_dump_commit(sp_ppl_dump *d, sp_error *err) {
    int rc = sp_out_commit(&d->out, err);
    d->open = 0;
    return rc;
}

void sp_ppl_dump_abort(sp_ppl_dump *d) {
    if (d->open) sp_out_abort(&d->out);
    d->open = 0;
}

double sp_ppl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sp_ppl_progress_show(sp_ppl_progress *p, const sp_ppl_run *run, size_t m,
                          const sp_ppl_unit *u, size_t k, uint64_t n, double s) {
    if (!p->mode) return;
    double dt = sp_ppl_now() - p->t0;
    double rate = dt > 0 ? (double)p->done / dt : 0;
    fputs(p->mode == 1 ? "\r\033[K" : "", stderr);
    if (run->n_models > 1) fprintf(stderr, "model %zu/%zu  ", m + 1, run->n_models);
    fprintf(stderr, "ctx %zu  ", u->ctx);
    const char *name = sp_corpus_name(run->corpora[u->file].path);
    sp_text_escape(stderr, name, strlen(name));
    fprintf(stderr, "  window %zu/%zu  ppl %.4f  %.0f%%  %.0f tokens/s", k + 1, u->windows,
            n ? exp(s / (double)n) : NAN,
            p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, rate);
    fputs(p->mode == 1 ? "" : "\n", stderr);
    fflush(stderr);
}

void sp_ppl_progress_end(sp_ppl_progress *p) {
    if (p->mode == 1) fputs("\r\033[K", stderr);
}
