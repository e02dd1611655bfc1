/* ppl_models.c — the models of a perplexity run: each opened once with its SHA-256 (the
 * provenance every result JSON carries), and the one tokenizer they share (the windows are cut
 * once, from the first model's tokenizer, and run through every model). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ppl_job.h"

/* The same model twice would only repeat a column. */
static int check_distinct_models(const sp_ppl_run *run, size_t i, sp_error *err) {
    struct stat a, b;
    if (stat(run->models[i].path, &a)) return SP_OK; /* opening it names the problem */
    for (size_t j = 0; j < i; j++)
        if (!stat(run->models[j].path, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            return sp_fail(err, SP_ERR_INPUT, "model %s given twice (as %s)",
                           run->models[i].path, run->models[j].path);
    return SP_OK;
}

static int open_one(sp_ppl_run *run, size_t i, sp_error *err) {
    sp_ppl_model *m = &run->models[i];
    sp_model_options mopts = {.no_verify = run->job.no_verify};
    int rc = check_distinct_models(run, i, err);
    if (!rc) rc = sp_eval_open_model_opts(m->path, &mopts, &m->model, err);
    if (!rc) rc = sp_prov_sha256_file(m->path, m->sha256, err);
    if (rc) return rc;
    m->vocab = sp_model_vocab_size(m->model);
    run->model_paths[i] = m->path;
    run->model_sha[i] = m->sha256;
    return SP_OK;
}

/* Every model but the first must hold the first one's tokenizer, byte for byte. */
static int same_tokenizer(const sp_ppl_run *run, size_t i, sp_error *err) {
    size_t la = 0, lb = 0;
    const void *ta = sp_file_tokenizer(sp_model_file(run->models[0].model), &la);
    const void *tb = sp_file_tokenizer(sp_model_file(run->models[i].model), &lb);
    if (!tb)
        return sp_fail(err, SP_ERR_INPUT, "%s holds no tokenizer (convert it with --tokenizer "
                       "SPM.model)", run->models[i].path);
    if (la != lb || memcmp(ta, tb, la))
        return sp_fail(err, SP_ERR_INPUT, "the tokenizers of %s and %s differ: the models "
                       "cannot be run on the same windows", run->models[0].path,
                       run->models[i].path);
    return SP_OK;
}

int sp_ppl_load_tokenizer(sp_ppl_run *run, sp_error *err) {
    sp_ppl_model *m = &run->models[0];
    int rc = sp_eval_model_tokenizer(m->model, &m->tok, err);
    if (rc) return rc;
    if (!m->tok)
        return sp_fail(err, SP_ERR_INPUT, "%s holds no tokenizer (convert it with --tokenizer "
                       "SPM.model)", m->path);
    for (size_t i = 0; i < run->n_models; i++) {
        if (i && (rc = same_tokenizer(run, i, err))) return rc;
        if (sp_tokenizer_vocab_size(m->tok) > run->models[i].vocab)
            return sp_fail(err, SP_ERR_INPUT, "%s: the tokenizer has %d pieces but the model "
                           "only %d logits", run->models[i].path,
                           (int)sp_tokenizer_vocab_size(m->tok), (int)run->models[i].vocab);
    }
    run->bos = sp_tokenizer_bos(m->tok);
    const sp_ppl_protocol *p = &run->job.protocol;
    /* lm-evaluation-harness's prefix token: BOS, else EOS */
    if (p->score == SP_SCORE_ROLLING && run->bos < 0) run->bos = sp_tokenizer_eos(m->tok);
    int needs_bos = p->score != SP_SCORE_ALL || p->bos != SP_BOS_NONE;
    if (needs_bos && run->bos < 0)
        return sp_fail(err, SP_ERR_INPUT, "%s: the tokenizer defines no BOS, which this "
                       "protocol needs", m->path);
    return SP_OK;
}

int sp_ppl_open_models(sp_ppl_run *run, sp_error *err) {
    const sp_ppl_job *job = &run->job;
    run->n_models = 1 + job->n_more_models;
    run->models = calloc(run->n_models, sizeof *run->models);
    run->model_paths = calloc(run->n_models, sizeof *run->model_paths);
    run->model_sha = calloc(run->n_models, sizeof *run->model_sha);
    if (!run->models || !run->model_paths || !run->model_sha)
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    run->models[0].path = job->model_path;
    for (size_t i = 1; i < run->n_models; i++) run->models[i].path = job->more_models[i - 1];
    for (size_t i = 0; i < run->n_models; i++) {
        int rc = open_one(run, i, err);
        if (rc) return rc;
    }
    return SP_OK;
}

void sp_ppl_close_models(sp_ppl_run *run) {
    for (size_t i = 0; run->models && i < run->n_models; i++) {
        sp_tokenizer_free(run->models[i].tok);
        sp_model_free(run->models[i].model);
    }
    free(run->models);
    free(run->model_paths);
    free(run->model_sha);
}
