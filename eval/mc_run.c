/* mc_run.c — scoring a multiple-choice task (sparsa_workbench.h, sp_mc_run): each choice's
 * continuation log-likelihood given its context, tokenized as lm-evaluation-harness does
 * (white space at the end of the context moves to the continuation; the continuation's tokens
 * are those of context + continuation after the context's own tokens), then acc and acc_norm
 * with their standard errors, and the report (docs/WORKBENCH.md). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dist_rec.h"
#include "mc_split.h"

typedef struct mc_ctx {
    sp_model *m;
    sp_tokenizer *tok;
    sp_session *s;
    int32_t vocab, prefix;      /* prefix: BOS (or EOS) before the context, -1 for none */
    size_t cap;                 /* tokens the session holds */
} mc_ctx;

void sp_mc_mean_stderr(const unsigned char *hits, size_t n, double *mean, double *stderr_out) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += hits[i];
    *mean = n ? sum / (double)n : NAN;
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (hits[i] - *mean) * (hits[i] - *mean);
    *stderr_out = n > 1 ? sqrt(ss / (double)(n - 1)) / sqrt((double)n) : NAN;
}

typedef struct ll_sink {
    const int32_t *seq;
    int32_t vocab;
    size_t from;    /* first row whose target is a continuation token */
    double ll;
} ll_sink;

/* Rows arrive in order; each adds log p(seq[r + 1]) for the continuation's targets. */
static int sink_ll(void *user, size_t first_row, size_t n_rows, const float *logits) {
    ll_sink *k = user;
    for (size_t j = 0; j < n_rows; j++) {
        size_t r = first_row + j;
        if (r >= k->from)
            k->ll -= sp_nll_of_row(logits + j * (size_t)k->vocab, k->vocab, k->seq[r + 1]);
    }
    return 0;
}

/* The tokens of one (context, continuation) pair: *seq = [prefix] context + continuation,
 * *n_cont the continuation's share. An empty context gets the prefix token even without --bos,
 * as lm-evaluation-harness gives it one. */
static int encode_pair(const mc_ctx *c, const char *context, const char *cont, int32_t **seq,
                       size_t *n, size_t *n_cont, sp_error *err) {
    size_t cl = strlen(context), keep = cl;
    while (keep && strchr(" \t\n\r\v\f", context[keep - 1])) keep--;
    sp_strbuf whole = {0};
    sp_sb_put(&whole, context, cl);
    sp_sb_puts(&whole, cont);
    if (whole.oom) return sp_sb_free(&whole), sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    int32_t *ctx_ids = NULL, *all = NULL;
    size_t n_ctx = 0, n_all = 0;
    int rc = sp_tokenizer_encode(c->tok, context, keep, &ctx_ids, &n_ctx, err);
    if (!rc) rc = sp_tokenizer_encode(c->tok, whole.s, whole.len, &all, &n_all, err);
    sp_sb_free(&whole);
    int32_t prefix = c->prefix;
    if (!rc && prefix < 0 && !n_ctx) {
        prefix = sp_tokenizer_bos(c->tok) >= 0 ? sp_tokenizer_bos(c->tok) : sp_tokenizer_eos(c->tok);
        if (prefix < 0)
            rc = sp_fail(err, SP_ERR_INPUT, "an empty context needs a BOS or EOS token, and the "
                         "tokenizer has neither");
    }
    if (!rc) {
        *n_cont = n_all > n_ctx ? n_all - n_ctx : 0;
        size_t lead = prefix >= 0 ? 1 : 0;
        *n = lead + n_ctx + *n_cont;
        *seq = malloc((*n ? *n : 1) * sizeof **seq);
        if (!*seq) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        else {
            if (lead) (*seq)[0] = prefix;
            if (n_ctx) memcpy(*seq + lead, ctx_ids, n_ctx * sizeof *ctx_ids); /* may be NULL */
            if (*n_cont) memcpy(*seq + lead + n_ctx, all + (n_all - *n_cont), *n_cont * sizeof *all);
        }
    }
    free(ctx_ids);
    free(all);
    return rc;
}

/* Log-likelihood of the continuation: the sequence is cut from the left to the model's
 * context + 1 tokens (lm-evaluation-harness keeps the last max_length + 1), its last token is
 * not fed. */
static int score_choice(mc_ctx *c, const char *context, const char *cont, double *ll,
                        size_t *n_cont, sp_error *err) {
    int32_t *seq = NULL;
    size_t n = 0;
    int rc = encode_pair(c, context, cont, &seq, &n, n_cont, err);
    if (rc) return rc;
    if (!*n_cont) {
        free(seq);
        return sp_fail(err, SP_ERR_INPUT, "the continuation \"%.60s\" gives no tokens", cont);
    }
    if (*n_cont > c->cap) {
        free(seq);
        return sp_fail(err, SP_ERR_INPUT, "a continuation of %zu tokens exceeds the model's "
                       "context %zu", *n_cont, c->cap);
    }
    size_t skip = n - 1 > c->cap ? n - 1 - c->cap : 0;
    ll_sink k = {seq + skip, c->vocab, n - 1 - skip - *n_cont, 0};
    sp_session_reset(c->s);
    rc = sp_session_forward(c->s, seq + skip, n - 1 - skip, k.from, sink_ll, &k, err);
    free(seq);
    *ll = k.ll;
    return rc;
}

static size_t argmax_ll(const double *ll, const size_t *norm, size_t n, int use_norm) {
    size_t best = 0;
    double bv = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = use_norm ? ll[i] / (double)(norm[i] ? norm[i] : 1) : ll[i];
        if (v > bv) bv = v, best = i;
    }
    return best;
}

static void write_prediction(FILE *f, size_t i, const sp_mc_item *it, const double *ll,
                             size_t pred, size_t pred_norm) {
    fprintf(f, "{\"index\": %zu, \"gold\": %zu, \"pred\": %zu, \"pred_norm\": %zu, \"loglik\": [",
            i, it->gold, pred, pred_norm);
    for (size_t c = 0; c < it->n_choices; c++) fprintf(f, "%s%.17g", c ? ", " : "", ll[c]);
    fputs("], \"norm_bytes\": [", f);
    for (size_t c = 0; c < it->n_choices; c++) fprintf(f, "%s%zu", c ? ", " : "", it->norm_bytes[c]);
    fputs("]}\n", f);
}

/* Every choice of question i scored into ll[0..n_choices); an input error names the question. */
static int score_item(mc_ctx *c, const sp_mc_job *job, const sp_mc_item *it, size_t i, double *ll,
                      sp_error *err) {
    int rc = SP_OK;
    for (size_t ch = 0; ch < it->n_choices && !rc; ch++) {
        size_t n_cont = 0;
        rc = score_choice(c, it->context[ch], it->continuation[ch], &ll[ch], &n_cont, err);
        if (rc && err->code == SP_ERR_INPUT) {
            sp_error inner = *err;
            sp_fail(err, SP_ERR_INPUT, "%s: question %zu, choice %zu: %s", job->task_path,
                    i + 1, ch, inner.msg);
        }
    }
    return rc;
}

/* Question i's outcome from its log-likelihoods: acc, acc_norm and the predictions line. */
static void finish_item(const sp_mc_job *job, const sp_mc_item *it, size_t i, const double *ll,
                        unsigned char *hit, unsigned char *hit_norm) {
    size_t p = argmax_ll(ll, it->norm_bytes, it->n_choices, 0);
    size_t q = argmax_ll(ll, it->norm_bytes, it->n_choices, 1);
    hit[i] = p == it->gold;
    hit_norm[i] = q == it->gold;
    if (job->predictions) write_prediction(job->predictions, i, it, ll, p, q);
}

/* Questions [r.first, r.end): finished at once, or (log) their log-likelihoods recorded for
 * rank 0, which finishes every question in order (add_records). */
static int run_items(mc_ctx *c, const sp_mc_job *job, const sp_mc_set *set, sp_dist_range r,
                     int progress, sp_strbuf *log, unsigned char *hit, unsigned char *hit_norm,
                     sp_error *err) {
    int rc = SP_OK;
    for (size_t i = (size_t)r.first; i < r.end && !rc; i++) {
        const sp_mc_item *it = &set->items[i];
        double *ll = calloc(it->n_choices, sizeof *ll);
        if (!ll) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        if (progress) fprintf(stderr, "\r\033[Kmc question %zu/%zu", i + 1, (size_t)r.end);
        rc = score_item(c, job, it, i, ll, err);
        if (!rc && log) rec_put(log, ll, it->n_choices * sizeof *ll);
        else if (!rc) finish_item(job, it, i, ll, hit, hit_norm);
        free(ll);
    }
    if (progress) fputs("\r\033[K", stderr);
    return rc;
}

int mc_add_records(const sp_mc_job *job, const sp_mc_set *set, size_t n, const char *recs,
                   size_t len, unsigned char *hit, unsigned char *hit_norm, sp_error *err) {
    rec_reader rd = {recs, recs + len, 0};
    for (size_t i = 0; i < n && !rd.short_read; i++) {
        const sp_mc_item *it = &set->items[i];
        double *ll = calloc(it->n_choices, sizeof *ll);
        if (!ll) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        rec_get(&rd, ll, it->n_choices * sizeof *ll);
        if (!rd.short_read) finish_item(job, it, i, ll, hit, hit_norm);
        free(ll);
    }
    if (rd.short_read || rd.p != rd.end)
        return sp_fail(err, SP_ERR_INPUT, "mc: the records do not match the questions");
    return SP_OK;
}

/* The questions part `part` of `parts` scores (about equal bytes of text each). */
static sp_dist_range part_range(const sp_mc_set *set, size_t n, uint64_t parts, uint64_t part) {
    uint64_t *cost = malloc((n ? n : 1) * sizeof *cost);
    if (!cost) abort(); /* the other ranks wait in the collection: no way back from here */
    for (size_t i = 0; i < n; i++) cost[i] = mc_question_cost(&set->items[i]);
    sp_dist_range r = sp_dist_item_range(cost, n, parts, part);
    free(cost);
    return r;
}

/* --shard K/N: part K's questions scored and written as a part file. */
static int run_part(mc_ctx *c, const sp_mc_job *job, const sp_mc_set *set, size_t n,
                    const char *sha, sp_error *err) {
    sp_dist_range r = part_range(set, n, job->shards, job->shard);
    sp_strbuf log = {0};
    int rc = run_items(c, job, set, r, job->progress, &log, NULL, NULL, err);
    if (!rc && log.oom) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    if (!rc) rc = mc_write_part(job, set, n, sha, r, log.s, log.len, err);
    sp_sb_free(&log);
    return rc;
}

/* Under MPI each rank scores a share of the questions and rank 0 finishes all of them in
 * order; alone, every question. Only rank 0 draws progress. */
static int run_share(mc_ctx *c, const sp_mc_job *job, const sp_mc_set *set, size_t n, int rc,
                     unsigned char *hit, unsigned char *hit_norm, sp_error *err) {
    const sp_dist *d = sp_dist_world();
    sp_dist_range all = {0, n};
    if (d->size <= 1)
        return rc ? rc : run_items(c, job, set, all, job->progress, NULL, hit, hit_norm, err);
    rc = sp_dist_agree(d, rc, err);
    if (rc) return rc;
    sp_dist_range r = part_range(set, n, (uint64_t)d->size, (uint64_t)d->rank);
    sp_strbuf log = {0};
    rc = run_items(c, job, set, r, job->progress && d->rank == 0, &log, hit, hit_norm, err);
    if (!rc && log.oom) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    char *recs = NULL;
    size_t len = 0;
    rc = sp_dist_collect(d, rc, log.s, log.len, &recs, &len, err);
    sp_sb_free(&log);
    if (!rc && d->rank == 0) rc = mc_add_records(job, set, n, recs, len, hit, hit_norm, err);
    free(recs);
    return rc;
}

static int open_model(mc_ctx *c, const sp_mc_job *job, sp_error *err) {
    sp_model_options mopts = {.no_verify = job->no_verify};
    int rc = sp_eval_open_model_opts(job->model_path, &mopts, &c->m, err);
    if (!rc) rc = sp_eval_model_tokenizer(c->m, &c->tok, err);
    if (!rc && !c->tok)
        rc = sp_fail(err, SP_ERR_INPUT, "%s holds no tokenizer (convert it with --tokenizer "
                     "SPM.model)", job->model_path);
    if (rc) return rc;
    c->vocab = sp_model_vocab_size(c->m);
    c->prefix = job->bos ? sp_tokenizer_bos(c->tok) : -1;
    if (job->bos && c->prefix < 0)
        return sp_fail(err, SP_ERR_INPUT, "%s: the tokenizer defines no BOS", job->model_path);
    if (sp_tokenizer_vocab_size(c->tok) > c->vocab)
        return sp_fail(err, SP_ERR_INPUT, "%s: the tokenizer has more pieces than the model "
                       "has logits", job->model_path);
    uint64_t ctx = sp_model_context_length(c->m);
    c->cap = ctx ? (size_t)ctx : 4096;
    return sp_session_create(c->m, c->cap, job->threads, &c->s, err);
}

int sp_mc_run(const sp_mc_job *job, sp_mc_result *res, sp_error *err) {
    memset(res, 0, sizeof *res);
    if (job->threads) omp_set_num_threads(job->threads);
    sp_dist d;
    int rc = sp_dist_init(&d, err);
    if (rc) return rc;
    sp_mc_set set;
    rc = sp_mc_read(job->task_path, job->format, &set, err);
    if (rc && d.size > 1) return sp_dist_agree(&d, rc, err); /* read by every rank alike */
    if (rc) return rc;
    size_t n = job->limit && set.n > job->limit ? job->limit : set.n;
    mc_ctx c;
    memset(&c, 0, sizeof c);
    unsigned char *hit = calloc(n, 1), *hit_norm = calloc(n, 1);
    rc = hit && hit_norm ? open_model(&c, job, err) : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    if (!rc) rc = sp_prov_sha256_file(job->model_path, res->model_sha256, err);
    if (job->shards && !rc && d.mpi)
        rc = sp_fail(err, SP_ERR_INPUT, "--shard cannot be combined with mpirun (each rank is "
                     "already a part)");
    if (job->shards) {
        if (!rc) rc = run_part(&c, job, &set, n, res->model_sha256, err);
    } else
        rc = run_share(&c, job, &set, n, rc, hit, hit_norm, err);
    if (!rc && d.rank == 0 && !job->shards) {
        res->n = n;
        res->format = set.format;
        sp_mc_mean_stderr(hit, n, &res->acc, &res->acc_stderr);
        sp_mc_mean_stderr(hit_norm, n, &res->acc_norm, &res->acc_norm_stderr);
    }
    free(hit);
    free(hit_norm);
    sp_mc_set_free(&set);
    sp_session_free(c.s);
    sp_tokenizer_free(c.tok);
    sp_model_free(c.m);
    return rc;
}
