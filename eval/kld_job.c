/* kld_job.c — a whole `kld` run (sparsa_workbench.h, sp_kld_run): both models opened and their
 * tokenizers compared, every corpus read and tokenized once and planned exactly as
 * `perplexity` plans it, then every window through both models (kld_window.c). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kld_window.h"
#include "sparsa_dist.h"

/* Memory of one block of base rows (e, in double), which sets the rows per forward call. */
#define KLD_BLOCK_BYTES ((size_t)64 << 20)

typedef struct kld_model {
    const char *path;
    sp_model *m;
    sp_tokenizer *tok;
} kld_model;

typedef struct kld_corpus {
    const char *path;
    int32_t *ids;
    size_t n;
    sp_ppl_plan plan;
} kld_corpus;

static int open_model(kld_model *k, const char *path, int no_verify, sp_error *err) {
    k->path = path;
    sp_model_options mopts = {.no_verify = no_verify};
    int rc = sp_eval_open_model_opts(path, &mopts, &k->m, err);
    if (!rc) rc = sp_eval_model_tokenizer(k->m, &k->tok, err);
    if (!rc && !k->tok)
        rc = sp_fail(err, SP_ERR_INPUT, "%s holds no tokenizer (convert it with --tokenizer "
                     "SPM.model)", path);
    return rc;
}

/* Same tokenizer bytes, or the same vocabulary, special ids and the same text for every id. */
static int tokenizers_agree(const kld_model *a, const kld_model *b, sp_error *err) {
    size_t la = 0, lb = 0;
    const void *ta = sp_file_tokenizer(sp_model_file(a->m), &la);
    const void *tb = sp_file_tokenizer(sp_model_file(b->m), &lb);
    if (la == lb && !memcmp(ta, tb, la)) return SP_OK;
    int32_t v = sp_tokenizer_vocab_size(a->tok);
    if (v != sp_tokenizer_vocab_size(b->tok) || sp_tokenizer_bos(a->tok) != sp_tokenizer_bos(b->tok)
        || sp_tokenizer_eos(a->tok) != sp_tokenizer_eos(b->tok)
        || sp_tokenizer_unk(a->tok) != sp_tokenizer_unk(b->tok))
        return sp_fail(err, SP_ERR_INPUT, "the tokenizers of %s and %s differ (vocabulary or "
                       "special ids)", a->path, b->path);
    for (int32_t id = 0; id < v; id++) {
        char *sa = NULL, *sb = NULL;
        size_t na = 0, nb = 0;
        int rc = sp_tokenizer_decode(a->tok, &id, 1, &sa, &na, err);
        if (!rc) rc = sp_tokenizer_decode(b->tok, &id, 1, &sb, &nb, err);
        int same = !rc && na == nb && !memcmp(sa, sb, na);
        free(sa);
        free(sb);
        if (rc) return rc;
        if (!same)
            return sp_fail(err, SP_ERR_INPUT, "the tokenizers of %s and %s differ (piece %d)",
                           a->path, b->path, (int)id);
    }
    return SP_OK;
}

static int check_models(const sp_kld_job *job, const kld_model *a, const kld_model *b,
                        size_t *ctx, sp_error *err) {
    int32_t va = sp_model_vocab_size(a->m), vb = sp_model_vocab_size(b->m);
    if (va != vb)
        return sp_fail(err, SP_ERR_INPUT, "%s has %d logits but %s has %d", a->path, (int)va,
                       b->path, (int)vb);
    if (sp_tokenizer_vocab_size(a->tok) > va)
        return sp_fail(err, SP_ERR_INPUT, "%s: the tokenizer has %d pieces but the model only "
                       "%d logits", a->path, (int)sp_tokenizer_vocab_size(a->tok), (int)va);
    int rc = tokenizers_agree(a, b, err);
    if (rc) return rc;
    uint64_t ca = sp_model_context_length(a->m), cb = sp_model_context_length(b->m);
    uint64_t lim = !ca ? cb : !cb ? ca : ca < cb ? ca : cb;
    *ctx = job->ctx ? job->ctx : lim && lim < 512 ? (size_t)lim : 512;
    if (lim && *ctx > lim)
        return sp_fail(err, SP_ERR_INPUT, "context %zu exceeds the models' context length %llu",
                       *ctx, (unsigned long long)lim);
    const sp_ppl_protocol *p = &job->protocol;
    if ((p->score == SP_SCORE_SECOND_HALF || p->bos != SP_BOS_NONE) && sp_tokenizer_bos(a->tok) < 0)
        return sp_fail(err, SP_ERR_INPUT, "%s: the tokenizer defines no BOS, which this "
                       "protocol needs", a->path);
    return SP_OK;
}

/* The same corpus twice (by any name: same device and inode) would count its windows twice. */
static int check_distinct(const sp_kld_job *job, sp_error *err) {
    for (size_t i = 0; i < job->n_corpora; i++) {
        struct stat a, b;
        if (stat(job->corpora[i], &a)) continue; /* reading it reports the error */
        for (size_t j = 0; j < i; j++)
            if (!stat(job->corpora[j], &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                return sp_fail(err, SP_ERR_INPUT, "corpus %s is the same file as %s",
                               job->corpora[i], job->corpora[j]);
    }
    return SP_OK;
}

static int read_corpus(const sp_kld_job *job, const sp_tokenizer *tok, size_t ctx,
                       kld_corpus *c, sp_error *err) {
    char *text = NULL;
    size_t len = 0;
    int rc = sp_corpus_read(c->path, &text, &len, err);
    if (rc) return rc;
    sp_corpus_tokens t;
    rc = sp_corpus_tokenize(tok, sp_corpus_name(c->path), text, len, 0, job->threads,
                            &job->token_cache, &t, err);
    free(text);
    if (rc) return rc;
    c->ids = t.ids;
    c->n = t.n;
    if (job->max_tokens && c->n > job->max_tokens) c->n = job->max_tokens;
    sp_error perr = {0};
    if (sp_ppl_plan_make(&job->protocol, ctx, c->n, &c->plan, &perr))
        return sp_fail(err, SP_ERR_INPUT, "%s: %s", c->path, perr.msg);
    return SP_OK;
}

typedef struct kld_state {
    kld_model a, b;
    kld_corpus *corpora;
    size_t ctx;
    kld_engine eng;
    kld_sums sums;
} kld_state;

static void state_free(kld_state *s, size_t n_corpora) {
    for (size_t f = 0; s->corpora && f < n_corpora; f++) free(s->corpora[f].ids);
    free(s->corpora);
    free(s->sums.kld_all);
    kld_engine_free(&s->eng);
    sp_session_free(s->eng.base);
    sp_session_free(s->eng.other);
    sp_tokenizer_free(s->a.tok);
    sp_tokenizer_free(s->b.tok);
    sp_model_free(s->a.m);
    sp_model_free(s->b.m);
}

static int prepare(const sp_kld_job *job, kld_state *s, sp_error *err) {
    int rc = check_distinct(job, err);
    if (!rc) rc = open_model(&s->a, job->base_path, job->no_verify, err);
    if (!rc) rc = open_model(&s->b, job->other_path, job->no_verify, err);
    if (!rc) rc = check_models(job, &s->a, &s->b, &s->ctx, err);
    if (rc) return rc;
    s->corpora = calloc(job->n_corpora ? job->n_corpora : 1, sizeof *s->corpora);
    if (!s->corpora) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t f = 0; f < job->n_corpora && !rc; f++) {
        s->corpora[f].path = job->corpora[f];
        rc = read_corpus(job, s->a.tok, s->ctx, &s->corpora[f], err);
        s->sums.capacity += rc ? 0 : s->corpora[f].plan.tokens_scored;
    }
    if (rc) return rc;
    s->sums.kld_all = malloc((s->sums.capacity ? s->sums.capacity : 1) * sizeof(float));
    if (!s->sums.kld_all) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    int32_t vocab = sp_model_vocab_size(s->a.m);
    size_t block = KLD_BLOCK_BYTES / ((size_t)vocab * sizeof(double));
    /* whole windows when they fit (batched prefill is fastest), else blocks of rows */
    block = block > s->ctx ? s->ctx : block < SP_LOGIT_BLOCK_MIN ? SP_LOGIT_BLOCK_MIN : block;
    rc = kld_engine_init(&s->eng, block, vocab, err);
    if (!rc) rc = sp_session_create(s->a.m, s->ctx, job->threads, &s->eng.base, err);
    if (!rc) rc = sp_session_create(s->b.m, s->ctx, job->threads, &s->eng.other, err);
    return rc;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The windows [r.first, r.end) of the run (corpora in order, windows in order). */
static int run_windows(const sp_kld_job *job, kld_state *s, sp_dist_range r, int progress,
                       size_t *windows, sp_error *err) {
    int32_t *input = malloc(s->ctx * sizeof *input);
    if (!input) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    int32_t bos = sp_tokenizer_bos(s->a.tok);
    double t0 = now_s();
    int rc = SP_OK;
    uint64_t g = 0;
    for (size_t f = 0; f < job->n_corpora && !rc; f++) {
        const kld_corpus *c = &s->corpora[f];
        for (size_t k = 0; k < c->plan.windows && !rc; k++, g++) {
            if (g < r.first || g >= r.end) continue;
            if (progress)
                fprintf(stderr, "\r\033[Kkld %s  window %zu/%zu  %.0f positions/s", c->path,
                        k + 1, c->plan.windows, (double)s->sums.n / (now_s() - t0 + 1e-9));
            size_t from = sp_ppl_window_input(&c->plan, c->ids, c->n, bos, k, input);
            rc = kld_window(&s->eng, input, s->ctx, from, &s->sums, err);
            ++*windows;
        }
    }
    if (progress) fputs("\r\033[K", stderr);
    free(input);
    return rc;
}

/* Under MPI: this rank's share of the windows, each window's rows recorded; rank 0 then adds
 * every rank's records in window order, from zero, as one process adds them (kld_replay).
 * Alone: every window. Only rank 0 draws progress. */
static int run_share(const sp_kld_job *job, kld_state *s, int rc, size_t *windows,
                     sp_error *err) {
    const sp_dist *d = sp_dist_world();
    uint64_t total = 0;
    for (size_t f = 0; !rc && f < job->n_corpora; f++) total += s->corpora[f].plan.windows;
    sp_dist_range all = {0, total};
    if (d->size <= 1) return rc ? rc : run_windows(job, s, all, job->progress, windows, err);
    rc = sp_dist_agree(d, rc, err);
    if (rc) return rc;
    uint64_t *cost = malloc((total ? total : 1) * sizeof *cost);
    if (!cost) abort(); /* the other ranks wait in the collection: no way back from here */
    for (uint64_t g = 0; g < total; g++) cost[g] = s->ctx;
    sp_dist_range r = sp_dist_item_range(cost, total, (uint64_t)d->size, (uint64_t)d->rank);
    free(cost);
    sp_strbuf log = {0};
    s->sums.log = &log;
    rc = run_windows(job, s, r, job->progress && d->rank == 0, windows, err);
    if (!rc && log.oom) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    s->sums.log = NULL;
    char *recs = NULL;
    size_t len = 0;
    rc = sp_dist_collect(d, rc, log.s, log.len, &recs, &len, err);
    sp_sb_free(&log);
    if (!rc && d->rank == 0) rc = kld_replay(&s->sums, recs, len, windows, err);
    free(recs);
    return rc;
}

int sp_kld_run(const sp_kld_job *job, sp_kld_result *res, sp_error *err) {
    memset(res, 0, sizeof *res);
    kld_state s;
    memset(&s, 0, sizeof s);
    sp_ppl_acc_init(&s.sums.base);
    sp_ppl_acc_init(&s.sums.other);
    if (job->threads) omp_set_num_threads(job->threads);
    sp_dist d;
    int rc = sp_dist_init(&d, err);
    if (rc) return rc;
    rc = prepare(job, &s, err);
    if (!rc) rc = sp_prov_sha256_file(job->base_path, res->base_sha256, err);
    if (!rc) rc = sp_prov_sha256_file(job->other_path, res->other_sha256, err);
    rc = run_share(job, &s, rc, &res->windows, err);
    if (!rc && d.rank == 0) {
        res->ctx = s.ctx;
        res->tokens = s.sums.n;
        sp_ppl_result_of(&s.sums.base, &res->base);
        sp_ppl_result_of(&s.sums.other, &res->other);
        res->ppl_ratio = res->other.ppl / res->base.ppl;
        double n = (double)s.sums.n, rate = s.sums.same / n, msq = s.sums.dp_sq / n;
        res->same_top_rate = rate;
        res->same_top_stderr = n > 1 ? sqrt(rate * (1 - rate) / (n - 1)) : NAN;
        res->rms_dp = sqrt(msq);
        double var4 = s.sums.dp_4 / n - msq * msq;
        res->rms_dp_stderr = n > 1 && res->rms_dp > 0
                                 ? sqrt((var4 > 0 ? var4 : 0) / (n - 1)) / (2 * res->rms_dp)
                                 : NAN;
        sp_kld_summarize(s.sums.kld_all, s.sums.n, res);
        /* the mean from the double sums (the stored values are floats, for the percentiles) */
        res->mean_kld = s.sums.kld / n;
        double var = s.sums.kld_sq / n - res->mean_kld * res->mean_kld;
        res->kld_stderr = n > 1 ? sqrt((var > 0 ? var : 0) / (n - 1)) : NAN;
    }
    state_free(&s, job->n_corpora);
    return rc;
}
