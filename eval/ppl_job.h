/* ppl_job.h — private to eval/: the state of one perplexity run (sparsa_eval.h, "a whole
 * perplexity run"), shared by its planning (ppl_prepare.c, ppl_models.c), running
 * (ppl_execute.c, ppl_output.c), reduction (ppl_reduce.c) and report (ppl_execute.c) files.
 *
 * Layout of the numbers: a unit is one (ctx, file), units in run order (ctx-major); every
 * window of every unit has a global index g (units in order, windows in window order). Each
 * model fills sums[m][g] (and, with --by-position, the window's buckets) for the windows its
 * process runs; the final reduction adds them in g order after all windows ran, so the numbers
 * do not depend on which process ran which window. */
#ifndef SPARSA_EVAL_PPL_JOB_H
#define SPARSA_EVAL_PPL_JOB_H

#include "sparsa_eval.h"

/* A rolling document: tokens ids[off .. off + n) of its corpus. */
typedef struct sp_ppl_doc {
    size_t off, n;
} sp_ppl_doc;

/* One corpus, tokenized once (cut to max_tokens; rolling: document by document). */
typedef struct sp_ppl_corpus {
    const char *path;
    int32_t *ids;
    size_t n;
    sp_ppl_doc *docs;          /* rolling only: the documents with at least one token */
    size_t n_docs;
    uint64_t words, bytes;     /* rolling: over those documents */
} sp_ppl_corpus;

/* One model of the run, with the provenance the JSON reports. */
typedef struct sp_ppl_model {
    const char *path;
    sp_model *model;
    sp_tokenizer *tok;
    int32_t vocab;
    char sha256[65];
} sp_ppl_model;

/* One (ctx, file): its windows, the same for every model. */
typedef struct sp_ppl_unit {
    size_t ctx, file;
    size_t windows;
    uint64_t first;            /* global index of its window 0 */
    sp_ppl_plan plan;          /* not rolling */
    size_t *win_doc;           /* rolling: [windows] document of each window */
    size_t *win_j;             /* rolling: [windows] its index within the document */
} sp_ppl_unit;

/* What one window contributed: the row sums of sp_ppl_acc_window. */
typedef struct sp_ppl_wsum {
    uint64_t n;
    double s, sq;
} sp_ppl_wsum;

struct sp_ppl_run {
    sp_ppl_job job;            /* as given; job.ctx/n_ctx replaced by ctx/n_ctx below */
    size_t *ctx;               /* [n_ctx], owned */
    size_t n_ctx, max_ctx;
    sp_ppl_model *models;      /* [n_models]; models[0] is job.model_path */
    const char **model_paths;  /* [n_models] for the report */
    const char **model_sha;    /* [n_models] */
    size_t n_models;
    sp_session *sess;          /* of the model running */
    int32_t bos;               /* BOS (rolling: BOS, else EOS) of the shared tokenizer */
    sp_ppl_corpus *corpora;    /* [job.n_corpora] */
    sp_ppl_unit *units;        /* [n_ctx * n_corpora] */
    uint64_t total_windows;
    uint64_t window_tokens;    /* Σ tokens fed over every window of one model: progress */
    /* per-window numbers: [n_models][total_windows] (buckets: × n_buckets more) */
    sp_ppl_wsum *sums;
    size_t n_buckets;          /* per window, by_position only */
    sp_ppl_bucket *wbuckets;
    /* results: per model, per ctx, its file rows then the micro-average */
    sp_ppl_row *rows;
    size_t n_rows;
    sp_ppl_bucket *row_buckets; /* [n_rows_total][n_buckets] */
    /* --stats storage: one block of heads and one of per-layer pointers per file row */
    sp_head_sparsity **sparsity_blocks;
    const sp_head_sparsity ***sparsity_ptrs;
    int **heads_blocks;
    size_t n_blocks;
};

/* ppl_models.c: opens every model (SHA-256 once each); then loads the shared tokenizer (the
 * first model's; the others' must hold the same bytes) and sets run->bos. */
int sp_ppl_open_models(sp_ppl_run *run, sp_error *err);
int sp_ppl_load_tokenizer(sp_ppl_run *run, sp_error *err);
void sp_ppl_close_models(sp_ppl_run *run);

/* ppl_reduce.c — the two seams of a run spread over processes:
 * which windows of a unit this process runs (all of them, in one process), and the final
 * reduction of every window's sums, in window order, into the report's rows. */
void sp_ppl_my_windows(const sp_ppl_run *run, const sp_ppl_unit *u, size_t *first, size_t *end);
int sp_ppl_reduce_all(sp_ppl_run *run, sp_error *err);

/* ppl_output.c: the --dump-nll file and the progress line. */
typedef struct sp_ppl_dump {
    sp_out out;
    int open;
} sp_ppl_dump;
int sp_ppl_dump_open(sp_ppl_dump *d, const char *path, sp_error *err);
/* One line per target of window k of unit u: positions from..len-1, nll[p], seq[p]. */
int sp_ppl_dump_window(sp_ppl_dump *d, const sp_ppl_run *run, size_t m, const sp_ppl_unit *u,
                       size_t k, const int32_t *seq, size_t len, size_t from,
                       const double *nll, sp_error *err);
int sp_ppl_dump_commit(sp_ppl_dump *d, sp_error *err);
void sp_ppl_dump_abort(sp_ppl_dump *d);

typedef struct sp_ppl_progress {
    int mode;                  /* job.progress */
    double t0;
    uint64_t done, total;
} sp_ppl_progress;
double sp_ppl_now(void);
/* After window k of unit u of model m, with the unit's running sums so far. */
void sp_ppl_progress_show(sp_ppl_progress *p, const sp_ppl_run *run, size_t m,
                          const sp_ppl_unit *u, size_t k, uint64_t n, double s);
void sp_ppl_progress_end(sp_ppl_progress *p);

#endif
