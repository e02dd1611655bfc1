/* ppl_job.h — private to eval/: the state of one perplexity run (sparsa_eval.h, "a whole
 * perplexity run"), shared by its planning (ppl_prepare.c) and running (ppl_execute.c) files. */
#ifndef SPARSA_EVAL_PPL_JOB_H
#define SPARSA_EVAL_PPL_JOB_H

#include "sparsa_eval.h"

/* One corpus, tokenized once (cut to max_tokens). */
typedef struct sp_ppl_corpus {
    const char *path;
    int32_t *ids;
    size_t n;
} sp_ppl_corpus;

struct sp_ppl_run {
    sp_ppl_job job;            /* as given; job.ctx/n_ctx replaced by ctx/n_ctx below */
    size_t *ctx;               /* [n_ctx], owned */
    size_t n_ctx, max_ctx;
    sp_model *model;
    sp_tokenizer *tok;
    sp_session *sess;
    int32_t vocab, bos;
    sp_ppl_corpus *corpora;    /* [job.n_corpora] */
    uint64_t window_tokens;    /* Σ windows × ctx over every (ctx, file): the progress total */
    /* results: per ctx, its file rows then the micro-average */
    sp_ppl_row *rows;
    size_t n_rows;
    /* --stats storage: one block of heads and one of per-layer pointers per file row */
    sp_head_sparsity **sparsity_blocks;
    const sp_head_sparsity ***sparsity_ptrs;
    size_t n_blocks;
    int *heads;                /* [layers] */
};

#endif
