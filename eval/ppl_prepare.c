/* ppl_prepare.c — planning a perplexity run (sp_ppl_prepare): every input is checked and every
 * corpus tokenized before the first window runs, so a bad file never costs a long run. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ppl_job.h"

/* The same file twice in one corpus list would be counted twice in the average. */
static int check_distinct(const sp_ppl_job *job, sp_error *err) {
    struct stat *st = calloc(job->n_corpora ? job->n_corpora : 1, sizeof *st);
    char *ok = calloc(job->n_corpora ? job->n_corpora : 1, 1);
    int rc = st && ok ? SP_OK : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; !rc && i < job->n_corpora; i++) {
        /* standard input can be read once: "-" twice is the same corpus twice */
        int is_stdin = !strcmp(job->corpora[i], "-");
        for (size_t j = 0; is_stdin && j < i && !rc; j++)
            if (!strcmp(job->corpora[j], "-"))
                rc = sp_fail(err, SP_ERR_INPUT, "corpus - (standard input) given twice");
        ok[i] = !is_stdin && stat(job->corpora[i], &st[i]) == 0;
        for (size_t j = 0; ok[i] && j < i && !rc; j++) {
            if (!ok[j] || st[i].st_dev != st[j].st_dev || st[i].st_ino != st[j].st_ino) continue;
            if (!strcmp(job->corpora[i], job->corpora[j]))
                rc = sp_fail(err, SP_ERR_INPUT, "corpus %s given twice", job->corpora[i]);
            else
                rc = sp_fail(err, SP_ERR_INPUT, "corpus %s is the same file as %s",
                             job->corpora[i], job->corpora[j]);
        }
    }
    free(st);
    free(ok);
    return rc;
}

/* The context lengths: the default when none is given; each within the model's context and
 * valid for the protocol whatever the corpus (ctx too small, stride too big). */
static int plan_contexts(sp_ppl_run *run, const sp_ppl_job *job, sp_error *err) {
    uint64_t model_ctx = sp_model_context_length(run->model);
    run->n_ctx = job->n_ctx ? job->n_ctx : 1;
    run->ctx = malloc(run->n_ctx * sizeof *run->ctx);
    if (!run->ctx) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    if (job->n_ctx) memcpy(run->ctx, job->ctx, job->n_ctx * sizeof *run->ctx);
    else run->ctx[0] = model_ctx && model_ctx < 512 ? (size_t)model_ctx : 512;
    for (size_t c = 0; c < run->n_ctx; c++) {
        if (model_ctx && run->ctx[c] > model_ctx)
            return sp_fail(err, SP_ERR_INPUT, "context %zu exceeds %s's context length %llu",
                           run->ctx[c], job->model_path, (unsigned long long)model_ctx);
        sp_ppl_plan probe;
        if (sp_ppl_plan_make(&job->protocol, run->ctx[c], (size_t)1 << 40, &probe, err))
            return SP_ERR_INPUT;
        if (run->ctx[c] > run->max_ctx) run->max_ctx = run->ctx[c];
    }
    return SP_OK;
}

static int load_tokenizer(sp_ppl_run *run, sp_error *err) {
    const char *path = run->job.model_path;
    int rc = sp_eval_model_tokenizer(run->model, &run->tok, err);
    if (rc) return rc;
    if (!run->tok)
        return sp_fail(err, SP_ERR_INPUT, "%s holds no tokenizer (convert it with --tokenizer "
                       "SPM.model)", path);
    if (sp_tokenizer_vocab_size(run->tok) > run->vocab)
        return sp_fail(err, SP_ERR_INPUT, "%s: the tokenizer has %d pieces but the model only "
                       "%d logits", path, (int)sp_tokenizer_vocab_size(run->tok),
                       (int)run->vocab);
    run->bos = sp_tokenizer_bos(run->tok);
    const sp_ppl_protocol *p = &run->job.protocol;
    int needs_bos = p->score == SP_SCORE_SECOND_HALF || p->bos != SP_BOS_NONE;
    if (needs_bos && run->bos < 0)
        return sp_fail(err, SP_ERR_INPUT, "%s: the tokenizer defines no BOS, which this "
                       "protocol needs", path);
    return SP_OK;
}

/* Every corpus: read, validate, tokenize once, check it is long enough for every ctx. */
static int read_corpora(sp_ppl_run *run, sp_error *err) {
    const sp_ppl_job *job = &run->job;
    run->corpora = calloc(job->n_corpora ? job->n_corpora : 1, sizeof *run->corpora);
    if (!run->corpora) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t f = 0; f < job->n_corpora; f++) {
        sp_ppl_corpus *c = &run->corpora[f];
        char *text = NULL;
        size_t len = 0;
        c->path = job->corpora[f];
        int rc = sp_corpus_read_max(c->path, job->max_bytes, &text, &len, err);
        if (rc) return rc;
        rc = sp_tokenizer_encode(run->tok, text, len, &c->ids, &c->n, err);
        free(text);
        if (rc) return rc;
        if (job->max_tokens && c->n > job->max_tokens) c->n = job->max_tokens;
        for (size_t k = 0; k < run->n_ctx; k++) {
            sp_ppl_plan plan;
            sp_error perr = {0};
            if (sp_ppl_plan_make(&job->protocol, run->ctx[k], c->n, &plan, &perr))
                return sp_fail(err, SP_ERR_INPUT, "%s: %s", sp_corpus_name(c->path), perr.msg);
            run->window_tokens += (uint64_t)plan.windows * run->ctx[k];
        }
    }
    return SP_OK;
}

int sp_ppl_prepare(const sp_ppl_job *job, sp_ppl_run **out, sp_error *err) {
    *out = NULL;
    sp_ppl_run *run = calloc(1, sizeof *run);
    if (!run) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    run->job = *job;
    int rc = check_distinct(job, err);
    sp_model_options mopts = {.no_verify = job->no_verify};
    if (!rc && job->threads) omp_set_num_threads(job->threads);
    if (!rc) rc = sp_eval_open_model_opts(job->model_path, &mopts, &run->model, err);
    if (!rc) {
        run->vocab = sp_model_vocab_size(run->model);
        rc = plan_contexts(run, job, err);
    }
    run->job.ctx = run->ctx; /* the caller's list need not outlive this call */
    run->job.n_ctx = run->n_ctx;
    if (!rc) rc = load_tokenizer(run, err);
    if (!rc) rc = read_corpora(run, err);
    if (rc) {
        sp_ppl_run_free(run);
        return rc;
    }
    *out = run;
    return SP_OK;
}

void sp_ppl_run_free(sp_ppl_run *run) {
    if (!run) return;
    for (size_t i = 0; i < run->n_blocks; i++) {
        free(run->sparsity_blocks[i]);
        free((void *)run->sparsity_ptrs[i]);
    }
    free(run->sparsity_blocks);
    free(run->sparsity_ptrs);
    free(run->heads);
    free(run->rows);
    for (size_t f = 0; run->corpora && f < run->job.n_corpora; f++) free(run->corpora[f].ids);
    free(run->corpora);
    sp_session_free(run->sess);
    sp_tokenizer_free(run->tok);
    sp_model_free(run->model);
    free(run->ctx);
    free(run);
}
