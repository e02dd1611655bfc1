/* ppl_prepare.c — planning a perplexity run (sp_ppl_prepare): every input is checked, every
 * corpus tokenized (document by document for the rolling protocol) and every window listed
 * before the first window runs, so a bad file never costs a long run. */
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

/* The context lengths: the default when none is given; each within every model's context
 * and valid for the protocol whatever the corpus (ctx too small, stride too big). */
static int plan_contexts(sp_ppl_run *run, const sp_ppl_job *job, sp_error *err) {
    uint64_t model_ctx = sp_model_context_length(run->models[0].model);
    run->n_ctx = job->n_ctx ? job->n_ctx : 1;
    run->ctx = malloc(run->n_ctx * sizeof *run->ctx);
    if (!run->ctx) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    if (job->n_ctx) memcpy(run->ctx, job->ctx, job->n_ctx * sizeof *run->ctx);
    else run->ctx[0] = model_ctx && model_ctx < 512 ? (size_t)model_ctx : 512;
    for (size_t c = 0; c < run->n_ctx; c++) {
        for (size_t m = 0; m < run->n_models; m++) {
            uint64_t mc = sp_model_context_length(run->models[m].model);
            if (mc && run->ctx[c] > mc)
                return sp_fail(err, SP_ERR_INPUT, "context %zu exceeds %s's context length "
                               "%llu", run->ctx[c], run->models[m].path, (unsigned long long)mc);
        }
        sp_ppl_plan probe;
        if (job->protocol.score == SP_SCORE_ROLLING && run->ctx[c] < 2)
            return sp_fail(err, SP_ERR_INPUT, "context %zu is too small (needs at least 2)",
                           run->ctx[c]);
        if (job->protocol.score != SP_SCORE_ROLLING &&
            sp_ppl_plan_make(&job->protocol, run->ctx[c], (size_t)1 << 40, &probe, err))
            return SP_ERR_INPUT;
        if (run->ctx[c] > run->max_ctx) run->max_ctx = run->ctx[c];
    }
    return SP_OK;
}

/* Tokenizes a corpus (through the token cache): one string, or for rolling one document (the
 * file, or each line without its newline) at a time; a document without tokens is left out. */
static int tokenize_corpus(sp_ppl_run *run, sp_ppl_corpus *c, const char *text, size_t len,
                           sp_error *err) {
    const sp_ppl_job *job = &run->job;
    int rolling = job->protocol.score == SP_SCORE_ROLLING;
    int lines = rolling && job->protocol.docs == SP_DOCS_LINES;
    sp_corpus_tokens t;
    int rc = sp_corpus_tokenize(run->models[0].tok, sp_corpus_name(c->path), text, len, lines,
                                job->threads, &job->token_cache, &t, err);
    if (rc) return rc;
    c->ids = t.ids;
    c->n = t.n;
    t.ids = NULL;
    if (!rolling && job->max_tokens && c->n > job->max_tokens) c->n = job->max_tokens;
    sp_corpus_doc whole = {0, len, 0, c->n};
    const sp_corpus_doc *docs = lines ? t.docs : &whole;
    size_t n_docs = lines ? t.n_docs : c->n > 0;
    if (rolling && n_docs && !(c->docs = malloc(n_docs * sizeof *c->docs)))
        rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t d = 0; rolling && !rc && d < n_docs; d++) {
        c->docs[c->n_docs++] = (sp_ppl_doc){docs[d].first, docs[d].n};
        c->words += sp_count_words(text + docs[d].text_at, docs[d].text_len);
        c->bytes += docs[d].text_len;
    }
    sp_corpus_tokens_free(&t);
    if (!rc && lines && c->n == 0)
        rc = sp_fail(err, SP_ERR_INPUT, "%s: no tokens to score", sp_corpus_name(c->path));
    return rc;
}

/* The windows of every (ctx, file), shared by every model. */
static int plan_unit(sp_ppl_run *run, sp_ppl_unit *u, sp_error *err) {
    const sp_ppl_corpus *c = &run->corpora[u->file];
    if (run->job.protocol.score != SP_SCORE_ROLLING) {
        sp_error perr = {0};
        if (sp_ppl_plan_make(&run->job.protocol, u->ctx, c->n, &u->plan, &perr))
            return sp_fail(err, SP_ERR_INPUT, "%s: %s", sp_corpus_name(c->path), perr.msg);
        u->windows = u->plan.windows;
        run->window_tokens += (uint64_t)u->windows * u->ctx;
        return SP_OK;
    }
    for (size_t d = 0; d < c->n_docs; d++) u->windows += sp_ppl_rolling_count(c->docs[d].n, u->ctx);
    u->win_doc = malloc(u->windows * sizeof *u->win_doc);
    u->win_j = malloc(u->windows * sizeof *u->win_j);
    if (!u->win_doc || !u->win_j) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    size_t k = 0;
    for (size_t d = 0; d < c->n_docs; d++) {
        size_t w = sp_ppl_rolling_count(c->docs[d].n, u->ctx);
        for (size_t j = 0; j < w; j++, k++) {
            u->win_doc[k] = d;
            u->win_j[k] = j;
            size_t left = c->docs[d].n - j * u->ctx; /* fed: L, or fewer in a short document */
            run->window_tokens += j ? u->ctx : (left < u->ctx ? left : u->ctx);
        }
    }
    return SP_OK;
}

/* Every corpus: read, validate, tokenize once; then the windows of every (ctx, file). */
static int read_corpora(sp_ppl_run *run, sp_error *err) {
    const sp_ppl_job *job = &run->job;
    size_t nf = job->n_corpora;
    run->corpora = calloc(nf ? nf : 1, sizeof *run->corpora);
    run->units = calloc(run->n_ctx * nf + 1, sizeof *run->units);
    if (!run->corpora || !run->units) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t f = 0; f < nf; f++) {
        sp_ppl_corpus *c = &run->corpora[f];
        char *text = NULL;
        size_t len = 0;
        c->path = job->corpora[f];
        int rc = sp_corpus_read_max(c->path, job->max_bytes, &text, &len, err);
        if (!rc) rc = tokenize_corpus(run, c, text, len, err);
        free(text);
        if (rc) return rc;
        for (size_t k = 0; k < run->n_ctx; k++) {
            sp_ppl_unit *u = &run->units[k * nf + f];
            u->ctx = run->ctx[k];
            u->file = f;
            if ((rc = plan_unit(run, u, err))) return rc;
        }
    }
    for (size_t i = 0; i < run->n_ctx * nf; i++) {
        run->units[i].first = run->total_windows;
        run->total_windows += run->units[i].windows;
    }
    return SP_OK;
}

int sp_ppl_prepare(const sp_ppl_job *job, sp_ppl_run **out, sp_error *err) {
    *out = NULL;
    sp_ppl_run *run = calloc(1, sizeof *run);
    if (!run) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    run->job = *job;
    int rc = check_distinct(job, err);
    if (!rc && job->threads) omp_set_num_threads(job->threads);
    if (!rc) rc = sp_ppl_open_models(run, err);
    if (!rc) rc = plan_contexts(run, job, err);
    run->job.ctx = run->ctx; /* the caller's list need not outlive this call */
    run->job.n_ctx = run->n_ctx;
    if (!rc) rc = sp_ppl_load_tokenizer(run, err);
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
        free(run->heads_blocks[i]);
    }
    free(run->sparsity_blocks);
    free(run->sparsity_ptrs);
    free(run->heads_blocks);
    free(run->rows);
    free(run->row_buckets);
    free(run->sums);
    free(run->wbuckets);
    for (size_t i = 0; run->units && i < run->n_ctx * run->job.n_corpora; i++) {
        free(run->units[i].win_doc);
        free(run->units[i].win_j);
    }
    free(run->units);
    for (size_t f = 0; run->corpora && f < run->job.n_corpora; f++) {
        free(run->corpora[f].ids);
        free(run->corpora[f].docs);
    }
    free(run->corpora);
    sp_session_free(run->sess);
    sp_ppl_close_models(run);
    free(run->ctx);
    free(run);
}
